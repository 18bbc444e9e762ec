#include "chat_harness.h"
const chat_case chat_irc_reg_cases[] = {{NULL, NULL}};
const chat_case chat_irc_chan_cases[] = {{NULL, NULL}};
const chat_case chat_irc_msg_cases[] = {{NULL, NULL}};
const chat_case chat_irc_query_cases[] = {{NULL, NULL}};
