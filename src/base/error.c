#include "base/error.h"

const char *cara_strerror(int code)
{
    switch (code) {
    case CARA_OK:
        return "success";
#define CARA_ERROR_TEXT_(name, text) \
    case CARA_E##name:               \
        return text;
        CARA_ERROR_LIST(CARA_ERROR_TEXT_)
#undef CARA_ERROR_TEXT_
    default:
        return "unknown error";
    }
}

const char *cara_errname(int code)
{
    switch (code) {
    case CARA_OK:
        return "CARA_OK";
#define CARA_ERROR_NAME_(name, text) \
    case CARA_E##name:               \
        return "CARA_E" #name;
        CARA_ERROR_LIST(CARA_ERROR_NAME_)
#undef CARA_ERROR_NAME_
    default:
        return "CARA_E?";
    }
}
