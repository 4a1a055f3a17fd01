/*
 * fuzz_config.c - libFuzzer target for the configuration loader.
 *
 * The input is written to an anonymous memory file (memfd; a temporary file
 * if memfd_create is not available) and loaded with rul_load() (what every
 * command does: the file and its policy) by its /proc/self/fd path, errors
 * going to /dev/null; the config and the policy are then freed. A config
 * that loads goes through the compiled cache (rules/cfgcache.h) and back:
 * the same fingerprint; and the input itself, behind a snapshot's header
 * with its checksum made right, must be refused or decoded, never misread.
 * Built and run by `make fuzz`.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../common/hash.h"
#include "../../rules/cfgcache.h"
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

/*
 * snapshot - cfg through the cache and back (the same fingerprint), then
 * data as the body of a snapshot whose header (taken from cfg's) and
 * checksum are right: decoded or refused, never read out of bounds
 */
static void
snapshot(const rg_config *cfg, const uint8_t *data, size_t size)
{
	char *out, *buf;
	size_t len, hl = 13 * 8;	/* the header's words (cfgcache.c) */
	uint64_t w;
	rg_config *back;

	if (cfc_encode(cfg, 7, size, &out, &len) != 0)
		abort();
	if ((back = cfc_decode(out, len, 7, size)) == NULL)
		abort();
	back->hashed = 0;
	if (cfg_hash(back) != cfg_hash(cfg))
		abort();
	cfg_free(back);
	if (cfc_encode(cfg, 7, size, &out, &len) != 0 || len < hl)
		abort();
	buf = malloc(hl + size + 1);
	memcpy(buf, out, hl);
	memcpy(buf + hl, data, size);
	free(out);
	w = hl + size;				/* H_LEN */
	memcpy(buf + 8, &w, 8);
	w = rg_hash64_words(buf + 24, hl + size - 24);	/* H_SUM */
	memcpy(buf + 16, &w, 8);
	cfg_free(cfc_decode(buf, hl + size, 7, size));
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
		snapshot(cfg, data, size);
		rul_free(pol);
		cfg_free(cfg);
	}
	return 0;
}
