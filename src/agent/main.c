/* cara-agent: one Caravanserai node. */
#include <stdio.h>

#include "agent/config.h"
#include "os/os.h"

int main(int argc, char **argv)
{
    cara_agent_settings s;
    int rc = cara_agent_settings_parse(&s, argc, argv);
    if (rc != 0) {
        cara_agent_settings_free(&s);
        return rc == 1 ? 0 : 2;
    }
    cara_os_log log = {.stream = stderr, .app = "cara-agent", .json = s.log_json};
    cara_env env;
    cara_os_env_init(&env, &log, s.log_level);
    cara_agent_config cfg;
    cara_agent_settings_apply(&s, &cfg);
    rc = cara_agent_run(&cfg, &env);
    cara_agent_settings_free(&s);
    return rc == 0 ? 0 : 1;
}
