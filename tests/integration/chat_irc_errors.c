#include "chat_harness.h"
const chat_case chat_irc_error_cases[] = {{NULL, NULL}};
