/* ldm-vk subcommands. Each returns the process exit code (0 ok, 1 failure, 2 usage error). */
#ifndef LDM_CLI_H
#define LDM_CLI_H
typedef struct ldm_cmd {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} ldm_cmd;
int ldm_cmd_devices(int argc, char **argv);
int ldm_cmd_conformance(int argc, char **argv);
int ldm_cmd_train(int argc, char **argv);
int ldm_cmd_sample(int argc, char **argv);
int ldm_cmd_forward(int argc, char **argv);
int ldm_cmd_bench(int argc, char **argv);
int ldm_cmd_report(int argc, char **argv);
int ldm_cmd_edit(int argc, char **argv);
/* print "ldm-vk: <message>" for the thread's last error and return 1 */
int ldm_cli_error(void);
/* one-line usage error naming the flag, with a hint; returns 2 */
int ldm_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
