// Command keycard is Keycard's one binary: the RADIUS server (serve) and the
// admin commands that front-desk tools and network admins script against
// (stay, device, voucher, nas, ca, db, audit, bench).
//
// The commands are thin: each parses its flags, opens what it needs through
// env (config, database, CA) and calls one package function. Output is human
// text by default and JSON with --json; errors are one line on stderr and a
// non-zero exit.
package main
