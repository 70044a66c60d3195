/* Unit tests of source.c: which connections to PostgreSQL are warned of. */
#include "source.h"
#include "unit.h"

#include <stdbool.h>

struct transport_case {
	const char *what;
	const char *host;     /* PQhost() */
	const char *hostaddr; /* PQhostaddr() */
	bool ssl;
	const char *sslmode;
	bool gss;
	enum zl_pg_transport expected;
};

static const struct transport_case transport_cases[] = {
    /* UNIX sockets: local whatever the rest. */
    {"socket directory", "/var/run/postgresql", "", false, "prefer", false, ZL_PG_LOCAL},
    {"socket directory, sslmode disable", "/tmp", "", false, "disable", false, ZL_PG_LOCAL},
    {"socket, hostaddr NULL", "/run/postgresql", NULL, false, "prefer", false, ZL_PG_LOCAL},
    {"abstract socket", "@pg", "", false, "prefer", false, ZL_PG_LOCAL},
    /* Loopback addresses: local. */
    {"127.0.0.1", "127.0.0.1", "127.0.0.1", false, "prefer", false, ZL_PG_LOCAL},
    {"localhost resolved to 127.0.0.1", "localhost", "127.0.0.1", false, "prefer", false,
     ZL_PG_LOCAL},
    {"127.255.255.254", "db", "127.255.255.254", false, "disable", false, ZL_PG_LOCAL},
    {"127.0.0.2 with TLS", "db", "127.0.0.2", true, "require", false, ZL_PG_LOCAL},
    {"::1", "localhost", "::1", false, "prefer", false, ZL_PG_LOCAL},
    {"::ffff:127.0.0.1", "db", "::ffff:127.0.0.1", false, "prefer", false, ZL_PG_LOCAL},
    /* The address connected to decides, not the name given. */
    {"localhost resolved elsewhere", "localhost", "192.0.2.10", false, "prefer", false,
     ZL_PG_PLAIN},
    {"a name that looks local", "127.0.0.1.example", "198.51.100.1", false, "prefer", false,
     ZL_PG_PLAIN},
    {"hostaddr over a local-looking host", "127.0.0.1", "203.0.113.5", false, "prefer", false,
     ZL_PG_PLAIN},
    {"host name without an address", "localhost", "", false, "prefer", false, ZL_PG_PLAIN},
    {"no host at all", NULL, NULL, false, "prefer", false, ZL_PG_PLAIN},
    {"relative socket-like name", "run/postgresql", "", false, "prefer", false, ZL_PG_PLAIN},
    /* Addresses next to the loopback's that are not. */
    {"128.0.0.1", "db", "128.0.0.1", false, "prefer", false, ZL_PG_PLAIN},
    {"126.255.255.255", "db", "126.255.255.255", false, "prefer", false, ZL_PG_PLAIN},
    {"0.0.0.0", "db", "0.0.0.0", false, "prefer", false, ZL_PG_PLAIN},
    {"10.0.0.1", "db", "10.0.0.1", false, "prefer", false, ZL_PG_PLAIN},
    {"::2", "db", "::2", false, "prefer", false, ZL_PG_PLAIN},
    {"::", "db", "::", false, "prefer", false, ZL_PG_PLAIN},
    {"::127.0.0.1 (v4-compatible, not mapped)", "db", "::127.0.0.1", false, "prefer", false,
     ZL_PG_PLAIN},
    {"::ffff:10.0.0.1", "db", "::ffff:10.0.0.1", false, "prefer", false, ZL_PG_PLAIN},
    {"fe80::1 with a zone", "db", "fe80::1%eth0", false, "prefer", false, ZL_PG_PLAIN},
    {"fd00::2", "db", "fd00::2", false, "prefer", false, ZL_PG_PLAIN},
    {"not an address", "db", "db.example", false, "prefer", false, ZL_PG_PLAIN},
    /* Over the network: what protects it. */
    {"sslmode disable", "db", "192.0.2.10", false, "disable", false, ZL_PG_PLAIN},
    {"sslmode allow, server without TLS", "db", "192.0.2.10", false, "allow", false, ZL_PG_PLAIN},
    {"sslmode prefer, server without TLS", "db", "192.0.2.10", false, "prefer", false, ZL_PG_PLAIN},
    {"sslmode prefer, TLS", "db", "192.0.2.10", true, "prefer", false, ZL_PG_UNVERIFIED},
    {"sslmode allow, TLS", "db", "192.0.2.10", true, "allow", false, ZL_PG_UNVERIFIED},
    {"sslmode require", "db", "192.0.2.10", true, "require", false, ZL_PG_UNVERIFIED},
    {"TLS, sslmode unknown", "db", "192.0.2.10", true, "", false, ZL_PG_UNVERIFIED},
    {"TLS, sslmode NULL", "db", "192.0.2.10", true, NULL, false, ZL_PG_UNVERIFIED},
    {"sslmode verify-ca", "db", "192.0.2.10", true, "verify-ca", false, ZL_PG_VERIFIED},
    {"sslmode verify-full", "db", "192.0.2.10", true, "verify-full", false, ZL_PG_VERIFIED},
    {"verify-full over IPv6", "db", "2001:db8::5", true, "verify-full", false, ZL_PG_VERIFIED},
    {"sslmode VERIFY-FULL is not libpq's", "db", "192.0.2.10", true, "VERIFY-FULL", false,
     ZL_PG_UNVERIFIED},
    {"GSSAPI encryption", "db", "192.0.2.10", false, "prefer", true, ZL_PG_VERIFIED},
    {"GSSAPI encryption, sslmode disable", "db", "192.0.2.10", false, "disable", true,
     ZL_PG_VERIFIED},
};

START_TEST(test_transport_judged)
{
	const struct transport_case *c = &transport_cases[_i];
	enum zl_pg_transport got =
	    source_judge_transport(c->host, c->hostaddr, c->ssl, c->sslmode, c->gss);

	ck_assert_msg(got == c->expected, "%s: got %d, expected %d", c->what, (int)got,
	              (int)c->expected);
}
END_TEST

static Suite *source_suite(void)
{
	Suite *s = suite_create("source");
	TCase *judge = tcase_create("transport");

	tcase_add_loop_test(judge, test_transport_judged, 0, (int)ZL_ARRAY_LEN(transport_cases));
	suite_add_tcase(s, judge);
	return s;
}

ZL_UNIT_MAIN(source_suite)
