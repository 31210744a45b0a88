/* bcryptprimitives.dll for Wine 8.0, which has none (Windows 10 1903+ does).
 *
 * Rust's standard library (1.78+) takes its random numbers from
 * bcryptprimitives.dll!ProcessPrng, so every Rust-built extension module the tests load
 * (pydantic-core, cryptography) fails with "DLL load failed" without this file. The one
 * export fills the buffer from advapi32's RtlGenRandom (SystemFunction036), which Wine has.
 * Built by build/windows/ci.sh with mingw-w64 into the Wine prefix's system32 only: it is
 * never part of the bundle or the installer. */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE out, SIZE_T size)
{
    while (size > 0) {
        /* RtlGenRandom takes a ULONG length: feed it at most 1 GiB at a time */
        ULONG part = size > (SIZE_T)0x40000000 ? 0x40000000UL : (ULONG)size;
        if (!RtlGenRandom(out, part))
            return FALSE;
        out += part;
        size -= part;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance; (void)reason; (void)reserved;
    return TRUE;
}
