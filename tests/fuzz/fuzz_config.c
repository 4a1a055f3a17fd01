/*
 * fuzz_config.c - libFuzzer target for the configuration loader.
 *
 * The input is written to an anonymous memory file (memfd; a temporary file
 * if memfd_create is not available) and loaded with rul_load() (what every
 * command does: the file and its policy) by its /proc/self/fd path, errors
 * going to /dev/null; the config and the policy are then freed.
 * Built and run by `make fuzz`.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../rules/config.h"
#include "../../rules/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static FILE *devnull;
static int fd = -1;
static char path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	fd = memfd_create("rg-fuzz-config.ini", 0);
	if (fd >= 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	} else {
		snprintf(path, sizeof(path), "/tmp/rg-fuzz-config.XXXXXX");
		if ((fd = mkstemp(path)) < 0)
			abort();
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rg_config *cfg;
	rul_policy *pol;
	int nerrors = 0;
	size_t off = 0;

	if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	while (off < size) {
		ssize_t w = write(fd, data + off, size - off);

		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	cfg = rul_load(path, devnull, &nerrors, &pol);
	/* loading fails as a whole: a config with errors is never returned */
	if (cfg != NULL && (nerrors != 0 || pol == NULL))
		abort();
	if (cfg != NULL) {
		if (cfg->headers.n < 0 || cfg->headers.n > CFG_MAX_LIST
		    || (cfg->headers.n > 0 && cfg->headers.v == NULL))
			abort();
		/* what every command does next: the fingerprint */
		(void)cfg_hash(cfg);
		rul_free(pol);
		cfg_free(cfg);
	}
	return 0;
}
