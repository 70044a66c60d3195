/* setup: declares zaaklink's RabbitMQ topology and shows the names it derived. */
#include "app.h"
#include "commands.h"
#include "log.h"
#include "mover.h"

#include <stdio.h>

static int cmd_setup(struct zl_conf *conf, const void *opts, int argc, char **argv);

static const struct zl_option setup_options[] = {ZL_OPT_END()};

const struct zl_command zl_cmd_setup = {
    .cli = {.name = "setup",
            .about = "declare the RabbitMQ topology: queues, retry tiers, parking",
            .options = setup_options},
    .state = ZL_STATE_NONE,
    .run = cmd_setup,
};

static int cmd_setup(struct zl_conf *conf, const void *opts, int argc, char **argv)
{
	struct zl_mover *m;
	struct zl_err err = {0};
	int rc;

	(void)opts, (void)argc, (void)argv;
	if (!(m = mover_new(conf, &err)))
		return app_fail(&err);
	rc = mover_connect(m, &err);
	if (rc == 0) {
		printf("node     %s\n", mover_node(m));
		rc = mover_declare(m, stdout, &err);
	}
	if (rc == 0 && conf->deliver.url)
		rc = mover_declare_consumer(m, conf->deliver.queue, stdout, &err);
	if (rc < 0) {
		mover_free(m);
		return app_fail(&err);
	}
	printf("retry    %d tier%s", conf->retry.n_delays, conf->retry.n_delays == 1 ? "" : "s");
	for (int i = 0; i < conf->retry.n_delays; i++)
		printf("%s%d s", i ? ", " : ": ", conf->retry.delays[i]);
	printf(", then parked\n");
	mover_free(m);
	return ZL_EX_OK;
}
