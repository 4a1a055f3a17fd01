/*
 * dynlib.h - a shared library loaded (dlopen) at the first call of one of
 * its functions, not linked: the forwarders of analyzer/pq_dl.c,
 * reports/xlsx_dl.c, reports/esmtp_dl.c and common/sd_dl.c, and ICU in
 * common/casefold.c.
 *
 * A linked library is mapped and relocated, with all its dependencies, at
 * every start of relayguard, also by the runs that never call it (`parse`,
 * the per-minute `analyze`). A *_dl.c file instead defines each function
 * of the library that relayguard calls, with the prototype of the
 * library's own header, as a forwarder:
 *
 *	static rg_dynlib lib = RG_DYNLIB("libfoo.so.1", "foo");
 *
 *	int
 *	foo_open(const char *path)
 *	{
 *		RG_DL_FN(&lib, foo_open, f)
 *			return -1;	(the library is missing)
 *		return f(path);
 *	}
 *
 * rg_dl_sym(lib, name) loads the library on the first call (RTLD_NOW |
 * RTLD_LOCAL) and returns its function name. When the library cannot be
 * loaded it returns NULL, after one warning naming the library and the
 * loader's reason ("foo: cannot load libfoo.so.1: ..."); the forwarder
 * then returns what makes its caller report a failure. A library that
 * loads but lacks a function of its own API is a broken install: the
 * warning names the function and the process aborts.
 *
 * RG_DL_FN resolves each function once; the pointer is atomic and the
 * loading locked, so a forwarder may be called from any thread (parse and
 * collect run a front end in a thread of its own). The library stays
 * loaded until the process ends.
 */
#ifndef RG_DYNLIB_H
#define RG_DYNLIB_H

typedef struct rg_dynlib {
	const char *soname;		/* "libpq.so.5" */
	const char *what;		/* the warning's prefix: "pgsql" */
	void	*h;			/* dlopen's handle, once loaded */
	int	 failed;		/* could not be loaded (warned) */
} rg_dynlib;

#define RG_DYNLIB(soname, what)	{ (soname), (what), NULL, 0 }

void *rg_dl_sym(rg_dynlib *lib, const char *name);

/*
 * RG_DL_FN - the forwarder's pointer p (of name's type), resolved once; the
 * statement after it runs when the library is missing
 */
#define RG_DL_FN(lib, name, p)						\
	static _Atomic(__typeof__(&name)) p;				\
	if (p == NULL)							\
		p = (__typeof__(&name))rg_dl_sym((lib), #name);		\
	if (p == NULL)

#endif
