/* setup: declares zaaklink's RabbitMQ topology and shows the names it derived. */
#include "app.h"
#include "commands.h"
#include "log.h"
#include "mover.h"

#include <stdio.h>

int cmd_setup(struct zl_conf *conf, int argc, char **argv)
{
	static const char *const opts[] = {NULL};
	struct zl_mover *m;
	struct zl_err err = {0};
	int rc;

	if (app_flags(argc, argv, opts, NULL) < 0)
		return ZL_EX_USAGE;
	if (!(m = mover_new(conf, &err)))
		return app_fail(&err);
	rc = mover_connect(m, &err);
	if (rc == 0) {
		printf("node     %s\n", mover_node(m));
		rc = mover_declare(m, stdout, &err);
	}
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
