/* TEST ENVIRONMENT ONLY, never shipped: a stand-in for Windows' bcryptprimitives.dll for wine < 9 (Debian 12 has
   wine 8.0), which lacks it. Rust's standard library (>= 1.78) gets its random bytes (HashMap seeds) from
   bcryptprimitives.dll!ProcessPrng, so dinof.dll imports it; every Windows 10/11 has the real DLL. This one
   forwards to RtlGenRandom (advapi32's SystemFunction036), which wine 8 implements. scripts/test-windows.sh puts it
   beside the test programs only. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x40000000u ? 0x40000000u : (ULONG)len;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
