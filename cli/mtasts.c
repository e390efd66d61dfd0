/* mtasts.c - STUB command. */
#include <stdio.h>
#include "mtasts.h"
int main(void) { puts(mtasts_version()); return 0; }
