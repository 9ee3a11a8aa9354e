/* The platform C math library, bit by bit: glibc (gcc, native) against mingw-w64 (run under wine). docs/platforms.md:
     gcc -O1 tests/cross/libm_bits.c -o /tmp/lm -lm && /tmp/lm >linux.txt
     x86_64-w64-mingw32-gcc -O1 tests/cross/libm_bits.c -o /tmp/lm.exe && wine64 /tmp/lm.exe | tr -d "\r" >win.txt
   then count the differing columns. Rust's sin/cos/exp/ln/powf call this library, hence images that differ in the
   last bits between Linux and Windows (scripts/test-cross.sh). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
static uint64_t b64(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
static uint32_t b32(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
int main(void) {
    int i;
    for (i = 0; i < 2000; i++) {
        double t = 1e-5 + (1.0 - 1e-5) * i / 1999.0;
        volatile double a = 2250.0, tv = t;
        volatile float f = (float)(t * 12.0 - 6.0);
        printf("pow %016llx exp %016llx log %016llx sin %016llx cos %016llx expf %08x logf %08x sinf %08x cosf %08x\n",
               (unsigned long long)b64(pow(a, tv)), (unsigned long long)b64(exp(tv * 7.3)),
               (unsigned long long)b64(log(tv)), (unsigned long long)b64(sin(tv * 50)), (unsigned long long)b64(cos(tv * 50)),
               b32(expf(f)), b32(logf(fabsf(f) + 1e-3f)), b32(sinf(f * 9.0f)), b32(cosf(f * 9.0f)));
    }
    return 0;
}
