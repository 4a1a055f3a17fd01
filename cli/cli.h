/*
 * cli.h - the command-line front end: one function per subcommand.
 * Only the CLI parses argv and chooses exit codes (sysexits).
 */
#ifndef RG_CLI_H
#define RG_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "../store/store.h"
#include "../rules/config.h"
#include "../rules/policy.h"

#define EX_OK_ 0
#define EX_USAGE_ 64
#define EX_DATAERR_ 65
#define EX_NOINPUT_ 66
#define EX_UNAVAILABLE_ 69
#define EX_SOFTWARE_ 70
#define EX_IOERR_ 74
#define EX_CANTCREAT_ 73
#define EX_TEMPFAIL_ 75
#define EX_CONFIG_ 78

typedef struct cli_ctx {
	const char *config_file;	/* -c, or NULL for the default */
	int config_given;
	int verbose;
} cli_ctx;

/* one subcommand: the table in main.c, read by --help and `man` */
typedef struct cli_command {
	const char *name;
	int (*fn)(const cli_ctx *, int, char **);
	const char *summary;
} cli_command;

/* the exit codes (sysexits), for --help and relayguard(8): cli/man_cmd.c */
typedef struct cli_exit {
	int code;
	const char *name;
	const char *meaning;
} cli_exit;
extern const cli_exit cli_exits[];
extern const size_t cli_nexits;

rg_config *cli_load_config(const cli_ctx *cx, int *rc);
int cmd_man(const cli_ctx *cx, int argc, char **argv,
    const cli_command *cmds, size_t ncmds, void (*usage)(FILE *));
int cmd_parse(const cli_ctx *cx, int argc, char **argv);
int cmd_check_config(const cli_ctx *cx, int argc, char **argv);
int cmd_collect(const cli_ctx *cx, int argc, char **argv);
int cmd_init(const cli_ctx *cx, int argc, char **argv);
int cmd_messages(const cli_ctx *cx, int argc, char **argv);
int cmd_stats(const cli_ctx *cx, int argc, char **argv);
int cmd_dump(const cli_ctx *cx, int argc, char **argv);
int cmd_analyze(const cli_ctx *cx, int argc, char **argv);
int cmd_lockctl(const cli_ctx *cx, int argc, char **argv);
int cmd_users(const cli_ctx *cx, int argc, char **argv);
int cmd_postfix_config(const cli_ctx *cx, int argc, char **argv);
int cmd_rspamd_config(const cli_ctx *cx, int argc, char **argv);
int cmd_explain(const cli_ctx *cx, int argc, char **argv);
int cmd_identities(const cli_ctx *cx, int argc, char **argv);
int cmd_quarantine(const cli_ctx *cx, int argc, char **argv);
int cli_rspamd_quarantine(const rg_config *cfg, const rul_policy *pol);
int cmd_report(const cli_ctx *cx, int argc, char **argv);
int cmd_check_postfix(const cli_ctx *cx, int argc, char **argv);
/* map_backend = pgsql (fleet_cmd.c) */
int cli_postfix_config_pgsql(rg_config *cfg, int argc, char **argv);
int cli_check_pgsql(const rg_config *cfg, const char *postconf_n);
int cli_pgsql_probe(const rg_config *cfg);
/* [pgsql] policy_service = yes (policy_cmd.c, fleet_cmd.c) */
int cmd_policy(const cli_ctx *cx, int argc, char **argv);
int cli_postfix_config_policy(const cli_ctx *cx, rg_config *cfg, int argc,
    char **argv);
int cli_check_policy(const rg_config *cfg);
int cmd_passwd(const cli_ctx *cx, int argc, char **argv);
int cmd_dovecot_config(const cli_ctx *cx, int argc, char **argv);
int cmd_dkim(const cli_ctx *cx, int argc, char **argv);
int cli_analyze_lock(const rg_config *cfg, long long wait);
/* fold identities as the configured Postfix does (warns if it cannot tell) */
void cli_policy_fold(const rg_config *cfg, rul_policy *pol);
int cmd_mail(const cli_ctx *cx, int argc, char **argv);
/* queue alerts and reports in each commit of st */
int cli_mail_notices(const rg_config *cfg, const rul_policy *pol,
    rg_store *st);
void cli_mail_hook(const rg_config *cfg, const rul_policy *pol,
    rg_store *st);
/* after an analyzer run: send the due mail unless send_after_analyze = no */
void cli_mail_after(const rg_config *cfg, rg_store *st);
int cli_analyze_once(const rg_config *cfg, const rul_policy *pol,
    rg_store *st, long long wait);

#endif
