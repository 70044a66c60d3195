/* check-config: the configuration is valid; with --connect, so are the servers. */
#include "app.h"
#include "commands.h"
#include "publisher.h"
#include "source.h"

#include <stdio.h>
#include <stdlib.h>

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
	struct zl_publisher *pub = publisher_new(&conf->amqp);
	int rc;

	if (!pub)
		return zl_err_set(err, ZL_EX_SOFTWARE, "out of memory");
	rc = publisher_connect(pub, err);
	publisher_free(pub);
	return rc;
}

int cmd_check_config(struct zl_conf *conf, int argc, char **argv)
{
	static const char *const opts[] = { "connect", NULL };
	bool set[1] = { false };
	struct zl_err err = { 0 };

	if (app_flags(argc, argv, opts, set) < 0)
		return ZL_EX_USAGE;
	printf("%s: configuration is valid\n", conf->file);
	if (!set[0])
		return ZL_EX_OK;
	if (check_source(conf, &err) < 0)
		return app_fail(&err);
	if (check_broker(conf, &err) < 0)
		return app_fail(&err);
	printf("RabbitMQ: connected, exchange %s declared\n", conf->amqp.exchange);
	return ZL_EX_OK;
}
