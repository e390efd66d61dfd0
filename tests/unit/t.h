/* SPDX-License-Identifier: ISC */
/*
 * t.h - minimal test harness: CHECK prints file:line and counts failures;
 * T_DONE() prints "N passed, N failed" and returns the exit status.
 */
#ifndef MTASTS_T_H
#define MTASTS_T_H

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;

#define CHECK(cond)                                                        \
	do {                                                               \
		if (cond)                                                  \
			t_pass++;                                          \
		else {                                                     \
			t_fail++;                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n",       \
			    __FILE__, __LINE__, #cond);                    \
		}                                                          \
	} while (0)

#define CHECKF(cond, ...)                                                  \
	do {                                                               \
		if (cond)                                                  \
			t_pass++;                                          \
		else {                                                     \
			t_fail++;                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s: ",       \
			    __FILE__, __LINE__, #cond);                    \
			fprintf(stderr, __VA_ARGS__);                      \
			fputc('\n', stderr);                               \
		}                                                          \
	} while (0)

#define CHECK_STR(a, b)                                                    \
	CHECKF((a) != NULL && (b) != NULL && strcmp((a), (b)) == 0,        \
	    "\"%s\" != \"%s\"", (a) ? (a) : "(null)", (b) ? (b) : "(null)")

#define T_DONE()                                                           \
	(printf("%d passed, %d failed\n", t_pass, t_fail),                 \
	    (t_fail == 0 && t_pass > 0) ? 0 : 1)

#endif
