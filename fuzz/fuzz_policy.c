/* SPDX-License-Identifier: ISC */
/*
 * fuzz_policy - libFuzzer target for the policy parser: parse, then
 * exercise every getter and mtasts_policy_mx_allowed(), checking the
 * invariants a valid policy must keep.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts.h"
#include "internal/domain.h"

static void
check_policy(const struct mtasts_policy *p, const char *body, size_t size)
{
	const char *t, *m;
	size_t i, len, n, lines = 0;
	int mode = mtasts_policy_mode(p);
	char host[MTASTS_DOMAIN_MAX + 2];

	if (mode != MTASTS_MODE_NONE && mode != MTASTS_MODE_TESTING &&
	    mode != MTASTS_MODE_ENFORCE)
		abort();
	if (strcmp(mtasts_mode_name(mode), "unknown") == 0)
		abort();
	if (mtasts_policy_max_age(p) > MTASTS_MAX_AGE_MAX)
		abort();
	n = mtasts_policy_mx_count(p);
	if (n > MTASTS_POLICY_MX_MAX || (n == 0 && mode != MTASTS_MODE_NONE))
		abort();
	for (i = 0; i < n; i++) {
		size_t ml;

		if ((m = mtasts_policy_mx(p, i)) == NULL)
			abort();
		ml = strlen(m);
		if (ml >= 2 && m[0] == '*' && m[1] == '.') {
			if (!mtasts_hostname_valid(m + 2, ml - 2))
				abort();
			/* A wildcard pattern matches any one-label child. */
			host[0] = 'x';
			memcpy(host + 1, m + 1, ml - 1);
			if (!mtasts_policy_mx_allowed(p, host, ml))
				abort();
		} else {
			if (!mtasts_hostname_valid(m, ml))
				abort();
			if (!mtasts_mx_match(m, ml, m, ml) ||
			    !mtasts_policy_mx_allowed(p, m, ml))
				abort();
		}
		for (; *m != '\0'; m++)
			if (*m >= 'A' && *m <= 'Z')
				abort();
	}
	if (mtasts_policy_mx(p, n) != NULL)
		abort();
	if ((t = mtasts_policy_text(p, &len)) == NULL || len != size ||
	    memcmp(t, body, size) != 0 || t[len] != '\0')
		abort();
	n = mtasts_policy_line_count(p);
	if (n == 0 || n > MTASTS_POLICY_LINES_MAX)
		abort();
	for (i = 0; i < size; i++)
		if (body[i] == '\n')
			lines++;
	/* One line per LF, plus an unterminated last line. */
	if (n != lines + (body[size - 1] != '\n'))
		abort();
	for (i = 0; i < n; i++) {
		if ((m = mtasts_policy_line(p, i)) == NULL ||
		    strlen(m) > MTASTS_POLICY_LINE_MAX ||
		    strchr(m, '\n') != NULL)
			abort();
	}
	if (mtasts_policy_line(p, n) != NULL)
		abort();
	(void)mtasts_policy_mx_allowed(p, body, size);
	(void)mtasts_policy_mx_allowed(p, body, size > 16 ? 16 : size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtasts_policy *p = NULL;
	struct mtasts_error err;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = mtasts_policy_parse((const char *)data, size, &p, &err);
	if (memchr(err.text, '\0', sizeof(err.text)) == NULL)
		abort();
	if (rc == MTASTS_OK) {
		if (p == NULL)
			abort();
		check_policy(p, (const char *)data, size);
	} else if (p != NULL || rc != MTASTS_INVALID || err.code != rc ||
	    err.text[0] == '\0')
		abort();
	mtasts_policy_free(p);
	return 0;
}
