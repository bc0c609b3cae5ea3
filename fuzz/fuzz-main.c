/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The standalone driver of the fuzz targets (systemd's pattern): in a build without
 * libFuzzer, each fuzz-*.c target is linked with this main(), which runs the target on
 * every file named on the command line (a directory: every file in it, sorted) and prints
 * TAP, one line per input. So each seed and each input that once crashed a target is a
 * regression test of the normal build, and of the sanitizer build, where a report makes
 * the process exit non-zero.
 *
 * Each input is handed over in a buffer of exactly its size, so ASan sees a read past it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int read_file(const char *path, uint8_t **ret, size_t *ret_size)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = errno ? -errno : -EINVAL;
		close(fd);
		return r;
	}
	/* malloc(0) may be NULL: hand over a valid pointer anyway */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	*ret_size = got;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends path, or the files of the directory path, to *files. */
static int collect(const char *path, char ***files, size_t *n)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	size_t first = *n;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode)) {
		char **t = realloc(*files, (*n + 1) * sizeof(char *));

		if (!t)
			return -ENOMEM;
		*files = t;
		(*files)[(*n)++] = strdup(path);
		return 0;
	}
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *p, **t;

		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&p, "%s/%s", path, de->d_name) < 0)
			break;
		t = realloc(*files, (*n + 1) * sizeof(char *));
		if (!t) {
			free(p);
			break;
		}
		*files = t;
		(*files)[(*n)++] = p;
	}
	closedir(d);
	qsort(*files + first, *n - first, sizeof(char *), cmp_str);
	return 0;
}

int main(int argc, char **argv)
{
	char **files = NULL;
	size_t n = 0;
	int failed = 0;

	if (LLVMFuzzerInitialize)
		(void)LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		int r = collect(argv[i], &files, &n);

		if (r < 0) {
			printf("Bail out! %s: %s\n", argv[i], strerror(-r));
			return 1;
		}
	}
	if (n == 0) {
		printf("1..0 # SKIP no inputs\n");
		return 0;
	}
	printf("1..%zu\n", n);
	fflush(stdout);
	for (size_t i = 0; i < n; i++) {
		const char *base = strrchr(files[i], '/');
		uint8_t *data = NULL;
		size_t size = 0;
		int r = read_file(files[i], &data, &size);

		if (r < 0) {
			printf("not ok %zu - %s: %s\n", i + 1, files[i], strerror(-r));
			failed++;
		} else {
			/* Printed before the run: a crash then names the input that caused it. */
			fprintf(stderr, "running %s (%zu bytes)\n", files[i], size);
			(void)LLVMFuzzerTestOneInput(data, size);
			free(data);
			printf("ok %zu - %s\n", i + 1, base ? base + 1 : files[i]);
		}
		fflush(stdout);
		free(files[i]);
	}
	free(files);
	return failed ? 1 : 0;
}
