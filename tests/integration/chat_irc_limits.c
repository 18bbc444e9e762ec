#include "chat_harness.h"
const chat_case chat_irc_timeout_cases[] = {{NULL, NULL}};
const chat_case chat_irc_flood_cases[] = {{NULL, NULL}};
