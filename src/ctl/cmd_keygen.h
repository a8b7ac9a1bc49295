/*
 * `caravanctl keygen`: creates the operator key (an Ed25519 seed in a 0600
 * file, by default $HOME/.config/caravanserai/operator.key) and prints its
 * public key and key id.
 */
#ifndef CARA_CTL_CMD_KEYGEN_H
#define CARA_CTL_CMD_KEYGEN_H

/* argv[0] is "keygen". Returns the process exit code: 0 on success, 1 on
 * failure (message on stderr), 2 on a usage error. */
int ctl_cmd_keygen(int argc, char **argv);

#endif
