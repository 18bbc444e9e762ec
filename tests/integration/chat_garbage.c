#include "chat_harness.h"
const chat_case chat_garbage_cases[] = {{NULL, NULL}};
