/*
 * dynlib.c - libraries loaded at the first call of one of their functions
 * (see dynlib.h). Owns nothing but the handles, kept until the process
 * ends. Fails soft when a library is missing (NULL, warned once per
 * library) and hard when a loaded library lacks a function of its API.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include "dynlib.h"
#include "log.h"

/* one lock for every library: each is loaded once, so it is never busy */
static pthread_mutex_t dl_lock = PTHREAD_MUTEX_INITIALIZER;

/* rg_dl_sym - lib's function name; NULL (warned once) if lib is missing */
void *
rg_dl_sym(rg_dynlib *lib, const char *name)
{
	void *h, *f;

	pthread_mutex_lock(&dl_lock);
	if (lib->h == NULL && !lib->failed
	    && (lib->h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		lib->failed = 1;
		log_warnx("%s: cannot load %s: %s", lib->what, lib->soname,
		    dlerror());
	}
	h = lib->h;
	pthread_mutex_unlock(&dl_lock);
	if (h == NULL)
		return NULL;
	if ((f = dlsym(h, name)) == NULL) {
		log_warnx("%s: %s has no %s: %s", lib->what, lib->soname, name,
		    dlerror());
		abort();
	}
	return f;
}
