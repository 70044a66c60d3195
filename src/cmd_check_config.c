/* check-config: the configuration is valid; with --connect, so are the servers. */
#include "app.h"
#include "commands.h"
#include "publisher.h"
#include "source.h"

#include <stdio.h>
#include <stdlib.h>

struct check_opts {
	bool connect; /* connect to both servers too */
};

static int cmd_check_config(struct zl_conf *conf, const void *opts, int argc, char **argv);

static const struct zl_option check_options[] = {
    ZL_OPT_BOOL(0, "connect", struct check_opts, connect,
                "connect to PostgreSQL and RabbitMQ too, as a pass would"),
    ZL_OPT_END(),
};

const struct zl_command zl_cmd_check_config = {
    .cli = {.name = "check-config",
            .about = "validate the configuration",
            .options = check_options},
    .state = ZL_STATE_WRITE,
    .opts_size = sizeof(struct check_opts),
    .run = cmd_check_config,
};

/*
 * Connects to PostgreSQL and reads both tables as a pass would; says where,
 * and whether over TLS. A connection over the network that TLS does not
 * protect has been warned of (source.insecure) by then.
 */
static int check_source(const struct zl_conf *conf, struct zl_err *err)
{
	struct zl_source *src = app_source_new(conf, err);
	const char *tls;
	char *where;
	int rc;

	if (!src)
		return -1;
	rc = source_check_access(src, err);
	if (rc == 0) {
		where = conf_mask_conninfo(conf->source.conninfo);
		tls = source_tls(src);
		printf("PostgreSQL: connected (%s) %s%s, onderwerpobjecten in schema %s readable\n",
		       where ? where : "?", tls ? "over " : "without TLS", tls ? tls : "",
		       conf->source.schema);
		free(where);
	}
	source_free(src);
	return rc;
}

/* Connects to RabbitMQ and declares the exchange and its unrouted queue. */
static int check_broker(const struct zl_conf *conf, struct zl_err *err)
{
	struct zl_publisher *pub = publisher_new(&conf->amqp, err);
	int rc;

	if (!pub)
		return -1;
	rc = publisher_connect(pub, err);
	publisher_free(pub);
	return rc;
}

static int cmd_check_config(struct zl_conf *conf, const void *opts, int argc, char **argv)
{
	const struct check_opts *o = opts;
	struct zl_err err = {0};

	(void)argc, (void)argv;
	printf("%s: configuration is valid\n", conf->file);
	if (!o->connect)
		return ZL_EX_OK;
	if (check_source(conf, &err) < 0)
		return app_fail(&err);
	if (check_broker(conf, &err) < 0)
		return app_fail(&err);
	printf("RabbitMQ: connected, exchange %s declared\n", conf->amqp.exchange);
	return ZL_EX_OK;
}
