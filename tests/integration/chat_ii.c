#include "chat_harness.h"
const chat_case chat_ii_cases[] = {{NULL, NULL}};
