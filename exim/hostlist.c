/* SPDX-License-Identifier: ISC */
/*
 * hostlist.c - policy mx patterns as an anchored Exim regex host list.
 */
#include <string.h>

#include "hostlist.h"

/* Append s[0..n) at *off, keeping room for the NUL. 0 on overflow. */
static int
put(char *buf, size_t size, size_t *off, const char *s, size_t n)
{
	if (n >= size - *off)
		return 0;
	memcpy(buf + *off, s, n);
	*off += n;
	buf[*off] = '\0';
	return 1;
}

/* LDH labels separated by dots, nothing else (the parser lower-cased). */
static int
ldh(const char *s)
{
	size_t i;

	if (*s == '\0' || *s == '.')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (c == '.' && (s[i + 1] == '.' || s[i + 1] == '\0'))
			return 0;
		if (c != '.' && c != '-' && !(c >= 'a' && c <= 'z') &&
		    !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9'))
			return 0;
	}
	return 1;
}

size_t
mtasts_exim_hostlist(const struct mtasts_policy *p, char *buf, size_t size)
{
	size_t off = 0, i, j, n;

	if (buf == NULL || size == 0)
		return 0;
	buf[0] = '\0';
	if (!put(buf, size, &off, "<;", 2))
		return 0;
	n = p != NULL ? mtasts_policy_mx_count(p) : 0;
	for (i = 0; i < n; i++) {
		const char *m = mtasts_policy_mx(p, i);
		int wild = strncmp(m, "*.", 2) == 0;

		if (wild)
			m += 2;
		if (!ldh(m))
			continue;
		if (!put(buf, size, &off, " !^", 3))
			return 0;
		/* "*" is exactly one whole label (RFC 8461 §4.1). */
		if (wild && !put(buf, size, &off, "[^.]+\\.", 7))
			return 0;
		for (j = 0; m[j] != '\0'; j++) {
			if (m[j] == '.' && !put(buf, size, &off, "\\", 1))
				return 0;
			if (!put(buf, size, &off, &m[j], 1))
				return 0;
		}
		/* ";" separates items; Exim trims the spaces. */
		if (!put(buf, size, &off, "$ ;", 3))
			return 0;
	}
	if (!put(buf, size, &off, " *", 2))
		return 0;
	return off;
}
