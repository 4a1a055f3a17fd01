/*
 * notify.h - tell systemd how a long-running command is doing.
 *
 * Under a Type=notify unit (NOTIFY_SOCKET set), rg_notify_ready() sends
 * READY=1 with a STATUS= line, and rg_notify_alive(), called once per turn
 * of the main loop, sends WATCHDOG=1 at half the unit's WatchdogSec= (so a
 * collector stuck anywhere, in SQLite or a read, is restarted) and a fresh
 * STATUS= at most every few seconds. Outside systemd every call does
 * nothing. Errors are ignored: a lost datagram costs at most one watchdog
 * period, and the next turn sends again.
 */
#ifndef RG_NOTIFY_H
#define RG_NOTIFY_H

void rg_notify_ready(const char *status);
void rg_notify_alive(long long lines, unsigned long open_messages);
void rg_notify_stopping(void);

#endif
