/*
 * Unit tests of the deliver group (conf_deliver.c): what every load checks
 * (URLs, one secret, the secret file, the listen address against
 * metrics.listen, a certificate with its key) and what conf_check_deliver()
 * asks for when the deliver command starts, with the line of the group.
 */
#include "conf.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STATE_DB "/tmp/zl-test-deliver-never-created.db"
/* Lines 1 to 10; a deliver group after it starts on line 11. */
#define BASE                                                                                       \
	"source: {\n  conninfo = \"host=db\";\n  base_url = \"https://ok.example\";\n};\n"         \
	"state: {\n  path = \"" STATE_DB "\";\n};\n"                                               \
	"events: {\n  source = \"urn:test\";\n};\n"
#define DELIVER(x) BASE "deliver: {\n" x "};\n"
#define URLS                                                                                       \
	"  url = \"https://oz.example.nl/events\";\n"                                              \
	"  zaken_api = \"https://oz.example.nl/zaken/api/v1/\";\n"
#define SECRET "geheim-van-zaaklink"

/* Loads text, which must be accepted; the caller frees conf and file. */
static struct zl_conf *load_ok(const char *text, char **file)
{
	struct zl_err err = {0};
	struct zl_conf *conf;

	*file = unit_write_temp("deliver", text);
	conf = conf_load(*file, &err);
	ck_assert_msg(conf != NULL, "rejected: %s", err.msg);
	return conf;
}

/* Loads text, which must be refused with "FILE:LINE: want" (LINE 0: "FILE: want"). */
static void load_fails(const char *text, int line, const char *want)
{
	char *file = unit_write_temp("deliver", text), expected[1024];
	struct zl_err err = {0};

	ck_assert_ptr_null(conf_load(file, &err));
	if (line)
		snprintf(expected, sizeof(expected), "%s:%d: %s", file, line, want);
	else
		snprintf(expected, sizeof(expected), "%s: %s", file, want);
	ck_assert_str_eq(err.msg, expected);
	ck_assert_int_eq(err.code, ZL_EX_CONFIG);
	ck_assert_ptr_null(strstr(err.msg, SECRET));
	unit_remove_temp(file);
}

/* conf_check_deliver() on text must say "FILE[:LINE]: want". */
static void deliver_fails(const char *text, int line, const char *want)
{
	char expected[1024], *file;
	struct zl_err err = {0};
	struct zl_conf *conf = load_ok(text, &file);

	ck_assert_int_eq(conf_check_deliver(conf, &err), -1);
	if (line)
		snprintf(expected, sizeof(expected), "%s:%d: %s", file, line, want);
	else
		snprintf(expected, sizeof(expected), "%s: %s", file, want);
	ck_assert_str_eq(err.msg, expected);
	ck_assert_int_eq(err.code, ZL_EX_CONFIG);
	conf_free(conf);
	unit_remove_temp(file);
}

START_TEST(test_defaults)
{
	char *file;
	struct zl_conf *conf = load_ok(BASE, &file);

	ck_assert_str_eq(conf->deliver.queue, "openzaak");
	ck_assert_ptr_null(conf->deliver.url);
	ck_assert_ptr_null(conf->deliver.metrics.listen);
	ck_assert(conf->deliver.check_existing);
	ck_assert(conf->deliver.verify);
	ck_assert(conf->deliver.verify_peer);
	ck_assert_int_eq(conf->deliver.concurrency, 8);
	ck_assert_double_eq(conf->deliver.timeout, 10.0);
	ck_assert_ptr_null(conf_deliver_secret(conf));
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

/* A file for run alone loads; deliver is told what it lacks, first the URL. */
START_TEST(test_deliver_needs_url_without_a_group)
{
	deliver_fails(BASE, 0,
	              "missing required setting 'deliver.url' (the deliver command needs Open "
	              "Zaak's /events URL)");
}
END_TEST

START_TEST(test_deliver_needs_client_id_at_the_group)
{
	deliver_fails(DELIVER(URLS), 11,
	              "missing required setting 'deliver.client_id' (the deliver command needs "
	              "it to sign its tokens)");
}
END_TEST

START_TEST(test_deliver_needs_a_secret)
{
	deliver_fails(DELIVER(URLS "  client_id = \"zaaklink\";\n"), 11,
	              "missing required setting 'deliver.secret_file' or 'deliver.secret' (the "
	              "deliver command needs the secret of deliver.client_id)");
}
END_TEST

START_TEST(test_deliver_needs_zaken_api_to_ask)
{
	deliver_fails(DELIVER("  url = \"http://oz/events\";\n  client_id = \"c\";\n  secret = "
	                      "\"" SECRET "\";\n"),
	              11,
	              "missing required setting 'deliver.zaken_api' (the deliver command needs "
	              "it with deliver.check_existing on)");
	deliver_fails(DELIVER("  url = \"http://oz/events\";\n  client_id = \"c\";\n  secret = "
	                      "\"" SECRET "\";\n  check_existing = false;\n"),
	              11,
	              "missing required setting 'deliver.zaken_api' (the deliver command needs "
	              "it with deliver.verify on)");
}
END_TEST

START_TEST(test_without_questions_no_zaken_api)
{
	char *file;
	struct zl_err err = {0};
	struct zl_conf *conf = load_ok(
	    DELIVER("  url = \"http://oz/events\";\n  client_id = \"c\";\n  secret = \"" SECRET
	            "\";\n  check_existing = false;\n  verify = false;\n"),
	    &file);

	ck_assert_int_eq(conf_check_deliver(conf, &err), 0);
	ck_assert_str_eq(conf_deliver_secret(conf), SECRET);
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

/* The complete group: zaken_api loses its trailing '/', the URL keeps its form. */
START_TEST(test_complete_group)
{
	char *file;
	struct zl_err err = {0};
	struct zl_conf *conf = load_ok(
	    DELIVER("  queue = \"oz\";\n" URLS "  client_id = \"zaaklink\";\n  secret = \"" SECRET
	            "\";\n  concurrency = 32;\n  timeout = 2.5;\n  listen = \"127.0.0.1:9188\";\n"),
	    &file);

	ck_assert_int_eq(conf_check_deliver(conf, &err), 0);
	ck_assert_str_eq(conf->deliver.queue, "oz");
	ck_assert_str_eq(conf->deliver.url, "https://oz.example.nl/events");
	ck_assert_str_eq(conf->deliver.zaken_api, "https://oz.example.nl/zaken/api/v1");
	ck_assert_int_eq(conf->deliver.concurrency, 32);
	ck_assert_double_eq(conf->deliver.timeout, 2.5);
	ck_assert_uint_gt(conf->deliver.metrics.addr_len, 0);
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

START_TEST(test_urls_checked_when_set)
{
	load_fails(DELIVER("  url = \"ftp://oz/events\";\n"), 12,
	           "deliver.url: 'ftp://oz/events' must start with http:// or https://");
	load_fails(DELIVER("  zaken_api = \"https:///zaken/api/v1\";\n"), 12,
	           "deliver.zaken_api: 'https:///zaken/api/v1' has no host");
	load_fails(DELIVER("  url = \"https://oz/ev ents\";\n"), 12,
	           "deliver.url: 'https://oz/ev ents' must not contain white space or control "
	           "characters");
	load_fails(DELIVER("  url = \"\";\n"), 12, "deliver.url: must not be empty");
}
END_TEST

START_TEST(test_one_secret_only)
{
	load_fails(DELIVER("  secret = \"" SECRET "\";\n  secret_file = \"/nonexistent\";\n"), 13,
	           "deliver: deliver.secret and deliver.secret_file are both set; set exactly one "
	           "(secret_file keeps it out of this file)");
}
END_TEST

/* A relative secret_file is a systemd credential; its content is the secret. */
START_TEST(test_secret_file_under_credentials)
{
	char dir[] = "/tmp/zl-test-deliver-cred-XXXXXX", path[512], *file;
	struct zl_err err = {0};
	struct zl_conf *conf;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/openzaak.secret", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(SECRET "\n", f);
	fclose(f);
	chmod(path, 0600);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	conf = load_ok(DELIVER(URLS "  client_id = \"c\";\n  secret_file = \"openzaak.secret\";\n"),
	               &file);
	ck_assert_int_eq(conf_check_deliver(conf, &err), 0);
	ck_assert_str_eq(conf_deliver_secret(conf), SECRET);
	ck_assert_ptr_null(conf->deliver.secret);
	conf_free(conf);
	unit_remove_temp(file);
	unsetenv("CREDENTIALS_DIRECTORY");
	load_fails(DELIVER("  secret_file = \"openzaak.secret\";\n"), 12,
	           "deliver.secret_file: 'openzaak.secret' is a relative path and "
	           "$CREDENTIALS_DIRECTORY is not set (systemd's LoadCredential= sets it); "
	           "expected an absolute path");
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_listen_not_on_metrics_port)
{
	load_fails(BASE "metrics: {\n  listen = \"127.0.0.1:9187\";\n};\n"
	                "deliver: {\n  listen = \"127.0.0.1:9187\";\n};\n",
	           15,
	           "deliver.listen: '127.0.0.1:9187' takes the port of metrics.listen "
	           "('127.0.0.1:9187'); expected another port");
	load_fails(BASE "metrics: {\n  listen = \"0.0.0.0:9187\";\n};\n"
	                "deliver: {\n  listen = \"127.0.0.1:9187\";\n};\n",
	           15,
	           "deliver.listen: '127.0.0.1:9187' takes the port of metrics.listen "
	           "('0.0.0.0:9187'); expected another port");
	load_fails(DELIVER("  listen = \"localhost:9188\";\n"), 12,
	           "deliver.listen: 'localhost' is not a numeric IPv4 address or an IPv6 "
	           "address in brackets (host names are not resolved)");
}
END_TEST

START_TEST(test_listen_beside_metrics)
{
	char *file;
	struct zl_conf *conf = load_ok(BASE "metrics: {\n  listen = \"127.0.0.1:9187\";\n};\n"
	                                    "deliver: {\n  listen = \"127.0.0.1:9188\";\n};\n",
	                               &file);

	ck_assert_str_eq(conf->deliver.metrics.listen, "127.0.0.1:9188");
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

START_TEST(test_tls_files)
{
	load_fails(DELIVER("  cert_file = \"/etc/hostname\";\n"), 12,
	           "deliver.cert_file: set without deliver.key_file, expected both or neither");
	load_fails(DELIVER("  ca_file = \"/nonexistent/ca.pem\";\n"), 12,
	           "deliver.ca_file: could not read /nonexistent/ca.pem: No such file or "
	           "directory");
}
END_TEST

START_TEST(test_bounds)
{
	load_fails(DELIVER("  concurrency = 0;\n"), 12,
	           "deliver.concurrency: 0 is out of range, expected 1 to 256");
	load_fails(DELIVER("  concurrency = 257;\n"), 12,
	           "deliver.concurrency: 257 is out of range, expected 1 to 256");
}
END_TEST

static Suite *conf_deliver_suite(void)
{
	Suite *s = suite_create("conf_deliver");
	TCase *tc = tcase_create("deliver");

	tcase_add_checked_fixture(tc, unit_clear_environment, NULL);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_deliver_needs_url_without_a_group);
	tcase_add_test(tc, test_deliver_needs_client_id_at_the_group);
	tcase_add_test(tc, test_deliver_needs_a_secret);
	tcase_add_test(tc, test_deliver_needs_zaken_api_to_ask);
	tcase_add_test(tc, test_without_questions_no_zaken_api);
	tcase_add_test(tc, test_complete_group);
	tcase_add_test(tc, test_urls_checked_when_set);
	tcase_add_test(tc, test_one_secret_only);
	tcase_add_test(tc, test_secret_file_under_credentials);
	tcase_add_test(tc, test_listen_not_on_metrics_port);
	tcase_add_test(tc, test_listen_beside_metrics);
	tcase_add_test(tc, test_tls_files);
	tcase_add_test(tc, test_bounds);
	suite_add_tcase(s, tc);
	return s;
}

ZL_UNIT_MAIN(conf_deliver_suite)
