/* icuuc.dll for Wine 8.0, which has none (Windows 10 1903+ ships the system ICU).
 *
 * Qt6Core (6.7 and later) imports the ucnv_* converter functions below from the system
 * ICU for the text codecs it does not build in. Without the file PySide6 cannot load at
 * all. Every function here answers "unsupported", so Qt keeps to its built-in codecs
 * (UTF-8/16/32, Latin-1, the system code page) - all Bridge uses. The names and
 * signatures are those Qt6Core's import table asks for. Built by build/windows/ci.sh with
 * mingw-w64 into the Wine prefix's system32 only: never part of the bundle. */
#include <stddef.h>
#include <stdint.h>

typedef int32_t UErrorCode;
typedef void *Opaque;
#define EXPORT __declspec(dllexport)
#define U_UNSUPPORTED_ERROR 16

static void unsupported(UErrorCode *status)
{
    /* ICU convention: a call does nothing when *status already holds an error (> 0) */
    if (status != NULL && *status <= 0)
        *status = U_UNSUPPORTED_ERROR;
}

EXPORT Opaque ucnv_open(const char *name, UErrorCode *status)
{ (void)name; unsupported(status); return NULL; }
EXPORT void ucnv_close(Opaque conv) { (void)conv; }
EXPORT void ucnv_reset(Opaque conv) { (void)conv; }
EXPORT int8_t ucnv_getMaxCharSize(Opaque conv) { (void)conv; return 1; }
EXPORT const char *ucnv_getName(Opaque conv, UErrorCode *status)
{ (void)conv; unsupported(status); return ""; }
EXPORT const char *ucnv_getStandardName(const char *name, const char *standard,
                                        UErrorCode *status)
{ (void)name; (void)standard; unsupported(status); return NULL; }
EXPORT int32_t ucnv_countAvailable(void) { return 0; }
EXPORT const char *ucnv_getAvailableName(int32_t n) { (void)n; return NULL; }

EXPORT void ucnv_getToUCallBack(Opaque conv, Opaque *action, Opaque *context)
{ (void)conv; if (action) *action = NULL; if (context) *context = NULL; }
EXPORT void ucnv_getFromUCallBack(Opaque conv, Opaque *action, Opaque *context)
{ (void)conv; if (action) *action = NULL; if (context) *context = NULL; }
EXPORT void ucnv_setToUCallBack(Opaque conv, Opaque action, Opaque context, Opaque *old_action,
                                Opaque *old_context, UErrorCode *status)
{ (void)conv; (void)action; (void)context; (void)old_action; (void)old_context;
  unsupported(status); }
EXPORT void ucnv_setFromUCallBack(Opaque conv, Opaque action, Opaque context,
                                  Opaque *old_action, Opaque *old_context, UErrorCode *status)
{ (void)conv; (void)action; (void)context; (void)old_action; (void)old_context;
  unsupported(status); }

EXPORT void UCNV_TO_U_CALLBACK_SUBSTITUTE(Opaque context, Opaque args, Opaque units,
                                          int32_t length, int reason, UErrorCode *status)
{ (void)context; (void)args; (void)units; (void)length; (void)reason; (void)status; }
EXPORT void UCNV_FROM_U_CALLBACK_SUBSTITUTE(Opaque context, Opaque args, Opaque units,
                                            int32_t length, int32_t code_point, int reason,
                                            UErrorCode *status)
{ (void)context; (void)args; (void)units; (void)length; (void)code_point; (void)reason;
  (void)status; }
EXPORT void ucnv_cbToUWriteUChars(Opaque args, Opaque source, int32_t length, int32_t offset,
                                  UErrorCode *status)
{ (void)args; (void)source; (void)length; (void)offset; unsupported(status); }
EXPORT void ucnv_cbFromUWriteUChars(Opaque args, Opaque source, Opaque limit, int32_t offset,
                                    UErrorCode *status)
{ (void)args; (void)source; (void)limit; (void)offset; unsupported(status); }

EXPORT void ucnv_toUnicode(Opaque conv, Opaque target, Opaque target_limit, Opaque source,
                           Opaque source_limit, Opaque offsets, int8_t flush, UErrorCode *status)
{ (void)conv; (void)target; (void)target_limit; (void)source; (void)source_limit;
  (void)offsets; (void)flush; unsupported(status); }
EXPORT void ucnv_fromUnicode(Opaque conv, Opaque target, Opaque target_limit, Opaque source,
                             Opaque source_limit, Opaque offsets, int8_t flush,
                             UErrorCode *status)
{ (void)conv; (void)target; (void)target_limit; (void)source; (void)source_limit;
  (void)offsets; (void)flush; unsupported(status); }
EXPORT int32_t ucnv_toUCountPending(Opaque conv, UErrorCode *status)
{ (void)conv; (void)status; return 0; }
EXPORT int32_t ucnv_fromUCountPending(Opaque conv, UErrorCode *status)
{ (void)conv; (void)status; return 0; }
