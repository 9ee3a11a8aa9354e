/* Loads a Windows onnxruntime.dll (from the PyPI win_amd64 wheel) and asks it for its version and C API 17, the level
   dinof's ort backend uses: whether ONNX Runtime can run under wine at all (docs/platforms.md). Build:
   x86_64-w64-mingw32-gcc -O1 tests/cross/ort_load.c -o ort_load.exe; run: wine64 ort_load.exe PATH\\onnxruntime.dll */
#include <stdio.h>
#include <windows.h>
typedef struct { const void *(*GetApi)(unsigned); const char *(*GetVersionString)(void); } OrtApiBase;
int main(int argc, char **argv) {
    HMODULE h = LoadLibraryA(argv[1]);
    if (!h) { printf("LoadLibrary(%s) failed: error %lu\n", argv[1], GetLastError()); return 1; }
    const OrtApiBase *(*base)(void) = (const OrtApiBase *(*)(void))(void *)GetProcAddress(h, "OrtGetApiBase");
    if (!base) { printf("no OrtGetApiBase\n"); return 1; }
    printf("ONNX Runtime %s, API 17: %p\n", base()->GetVersionString(), base()->GetApi(17));
    return 0;
}
