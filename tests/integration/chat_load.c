#include "chat_harness.h"
const chat_case chat_load_cases[] = {{NULL, NULL}};
const chat_case chat_slow_cases[] = {{NULL, NULL}};
const chat_case chat_garbage_cases[] = {{NULL, NULL}};
