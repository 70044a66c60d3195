/*
 * Shared by the libFuzzer targets: a check that stops the run with a
 * message, and the splitting of one input into several strings.
 *
 * A target states what must hold for every input; FUZZ_CHECK() aborts
 * with the reason, so libFuzzer saves the input as a crash file and the
 * failure is as plain as an ASan report.
 */
#ifndef ZL_FUZZ_H
#define ZL_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/*
 * Cuts data at its NUL bytes into at most n malloc'ed strings; fields
 * the input does not reach are NULL. Returns how many were present.
 */
static inline int fuzz_split(const uint8_t *data, size_t size, char **fields, int n)
{
	int k = 0;
	size_t start = 0;

	for (int i = 0; i < n; i++)
		fields[i] = NULL;
	while (k < n && start <= size) {
		const uint8_t *nul = memchr(data + start, 0, size - start);
		size_t len = nul ? (size_t)(nul - (data + start)) : size - start;

		fields[k] = malloc(len + 1);
		if (!fields[k])
			abort();
		memcpy(fields[k], data + start, len);
		fields[k][len] = '\0';
		k++;
		if (!nul)
			break;
		start += len + 1;
	}
	return k;
}

static inline void fuzz_free_fields(char **fields, int n)
{
	for (int i = 0; i < n; i++)
		free(fields[i]);
}

/* True when s is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static inline bool fuzz_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + n >= len)
			return false; /* the sequence runs past the end */
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

/* Characters of s as event.c counts them: every byte but 10xxxxxx. */
static inline size_t fuzz_utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

#endif
