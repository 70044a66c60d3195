/* tcp-proxy: a TCP relay on 127.0.0.1 whose network a test controls by signals.
 *
 * The high-availability tests put it between zaaklink and PostgreSQL to make
 * the faults a real network makes and a stopped server does not: a silent
 * partition (nothing arrives, nothing is refused, every socket stays open)
 * and a reset of every connection at once.
 *
 *   tcp-proxy --listen 127.0.0.1:PORT --to HOST:PORT [--port-file F]
 *             [--pid-file F] [--state-file F]
 *
 * --listen      the address to listen on; it must be a loopback address
 *               (127.0.0.0/8). PORT 0 takes a free port.
 * --to          where each accepted connection is relayed to (a name or an
 *               address, resolved once at start; [ADDR]:PORT for IPv6).
 * --port-file   the port listened on, one line, written (temporary file,
 *               then rename) once listening.
 * --pid-file    the process id, one line, written the same way; removed on exit.
 * --state-file  one line, "STATE resets=N": STATE is forwarding or
 *               partitioned, N the number of resets done. Rewritten (the
 *               same way) after each signal has taken effect, so a test
 *               waits for this line rather than for the signal.
 *
 * Signals:
 *   SIGUSR1  partition: no byte moves any more, either way, on the current
 *            connections and on new ones. Nothing is read and nothing is
 *            closed, so the kernels' buffers fill as behind a silent
 *            partition. New connections are accepted (and relayed to the
 *            target) but get no byte through.
 *   SIGUSR2  heal: forwarding resumes; what waited in the proxy's buffers
 *            is delivered.
 *   SIGHUP   reset: every current connection is closed with a TCP RST
 *            (SO_LINGER 0) on both sides; the proxy keeps listening and
 *            stays partitioned or forwarding as it was.
 *   SIGTERM, SIGINT  closes everything and exits 0.
 * Each change is one line on stderr ("tcp-proxy: partitioned",
 * "tcp-proxy: forwarding", "tcp-proxy: reset N connections").
 *
 * How: one thread, one poll(2) over the listening socket, a self-pipe and
 * both sockets of every connection, all nonblocking. The signal handlers
 * only write the signal's number into the self-pipe, so the changes are
 * applied in the order the signals came, between two polls. Each direction
 * of a connection has a buffer of its own; a socket is polled for input
 * only while its buffer has room and for output only while the other
 * direction's buffer holds bytes, so nothing spins. While partitioned the
 * connections' sockets are left out of the poll altogether: not even an
 * error or a hang-up is looked at until the heal, as behind a real
 * partition. When one side ends (EOF), what it sent is delivered and both
 * sides are closed; when one side fails (a reset, an error), the other is
 * reset too.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define BUF_SIZE 65536

static const char usage[] =
    "usage: tcp-proxy --listen 127.0.0.1:PORT --to HOST:PORT [--port-file F] [--pid-file F]\n"
    "                 [--state-file F]\n"
    "Relays TCP connections from PORT (0: a free one) to HOST:PORT until SIGTERM or SIGINT.\n"
    "  --port-file F   the port listened on, written once listening\n"
    "  --pid-file F    the process id, removed on exit\n"
    "  --state-file F  \"forwarding resets=N\" or \"partitioned resets=N\", rewritten after\n"
    "                  each signal has taken effect\n"
    "Signals: SIGUSR1 partition (no byte moves either way, every socket stays open, new\n"
    "connections are accepted but get nothing through); SIGUSR2 heal (forwarding resumes,\n"
    "buffered bytes are delivered); SIGHUP reset (every current connection is closed with a\n"
    "TCP RST on both sides); SIGTERM/SIGINT exit. Each change is one line on stderr.\n";

/* One direction of a connection: bytes read from one socket, not yet written to the other. */
struct pipe_buf {
	char data[BUF_SIZE];
	size_t off, len;
	bool eof; /* the reading side ended: nothing more will come */
};

struct conn {
	int fd[2];              /* 0: the client, 1: the target */
	struct pipe_buf buf[2]; /* buf[i]: read from fd[i], written to fd[1 - i] */
	bool connecting;        /* fd[1]'s connect() is still under way */
};

static struct {
	struct sockaddr_storage to;
	socklen_t to_len;
	const char *to_name;
	const char *state_file;
	const char *pid_file;
	int listen_fd;
	bool accepting; /* false while out of file descriptors */
	bool partitioned;
	unsigned long resets;
	struct conn **conns;
	size_t n_conns, cap_conns;
} px = {.listen_fd = -1, .accepting = true};

static int sig_pipe[2] = {-1, -1};

/* A test tool may simply stop at the first problem: one line, exit 2. */
__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("tcp-proxy: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* One line on stderr, flushed. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("tcp-proxy: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	/* A full pipe would lose the signal; 64 KiB of signals waiting do not happen. */
	ssize_t n = write(sig_pipe[1], &b, 1);

	(void)n;
	errno = saved;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		die("fcntl: %s", strerror(errno));
}

/* Writes TEXT to PATH through PATH.tmp and a rename, so a reader sees all or nothing. */
static void write_file(const char *path, const char *text)
{
	size_t n = strlen(path) + 5;
	char *tmp = malloc(n);
	FILE *f;

	if (!tmp)
		die("out of memory while naming the temporary file for %s", path);
	snprintf(tmp, n, "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		die("cannot write %s: %s", tmp, strerror(errno));
	if (fputs(text, f) == EOF || fclose(f) != 0)
		die("cannot write %s: %s", tmp, strerror(errno));
	if (rename(tmp, path) != 0)
		die("cannot rename %s to %s: %s", tmp, path, strerror(errno));
	free(tmp);
}

static void write_state(void)
{
	char line[64];

	if (!px.state_file)
		return;
	snprintf(line, sizeof(line), "%s resets=%lu\n",
	         px.partitioned ? "partitioned" : "forwarding", px.resets);
	write_file(px.state_file, line);
}

/* Splits "HOST:PORT" (or "[HOST]:PORT") into its parts, in place. */
static void split_hostport(char *s, const char *opt, char **host, char **port)
{
	char *colon = strrchr(s, ':');

	if (!colon || colon == s || colon[1] == '\0')
		die("%s: expected HOST:PORT, got '%s'", opt, s);
	*colon = '\0';
	*port = colon + 1;
	*host = s;
	if (s[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		*host = s + 1;
	}
}

static void resolve_to(char *arg)
{
	struct addrinfo hints, *res = NULL;
	char *host, *port;
	int rc;

	px.to_name = arg;
	split_hostport(arg, "--to", &host, &port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0 || !res)
		die("--to %s:%s: %s", host, port, rc ? gai_strerror(rc) : "no address");
	memcpy(&px.to, res->ai_addr, res->ai_addrlen);
	px.to_len = res->ai_addrlen;
	freeaddrinfo(res);
	/* Only for the messages: the argument as given, joined again. */
	port[-1] = ':';
}

/* Listens on ARG, a loopback address; returns the port listened on. */
static unsigned listen_on(char *arg)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char *host, *port, *end;
	unsigned long p;
	int one = 1;

	split_hostport(arg, "--listen", &host, &port);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1 ||
	    (ntohl(sin.sin_addr.s_addr) >> 24) != 127)
		die("--listen: '%s' is not a loopback address (127.0.0.0/8)", host);
	errno = 0;
	p = strtoul(port, &end, 10);
	if (errno || *end || end == port || p > 65535)
		die("--listen: '%s' is not a port", port);
	sin.sin_port = htons((unsigned short)p);
	px.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (px.listen_fd < 0)
		die("socket: %s", strerror(errno));
	if (setsockopt(px.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		die("setsockopt SO_REUSEADDR: %s", strerror(errno));
	if (bind(px.listen_fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		die("cannot bind %s:%s: %s", host, port, strerror(errno));
	if (listen(px.listen_fd, 128) != 0)
		die("listen: %s", strerror(errno));
	if (getsockname(px.listen_fd, (struct sockaddr *)&sin, &len) != 0)
		die("getsockname: %s", strerror(errno));
	set_nonblock(px.listen_fd);
	return ntohs(sin.sin_port);
}

/* Closes FD; with RESET set, with an RST instead of a FIN. */
static void close_fd(int fd, bool reset)
{
	if (fd < 0)
		return;
	if (reset) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		/* A socket that is already gone cannot take the option; close() is all that is
		 * left. */
		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(fd);
}

/* Ends connection I, closing the client (RESET0) or the target (RESET1) side with an RST. */
static void conn_end(size_t i, bool reset0, bool reset1)
{
	struct conn *c = px.conns[i];

	close_fd(c->fd[0], reset0);
	close_fd(c->fd[1], reset1);
	free(c);
	px.conns[i] = px.conns[--px.n_conns];
	px.accepting = true;
}

/* Starts relaying a new client: a connection to the target, under way. */
static void conn_start(int cfd)
{
	struct conn *c;
	int sfd;

	set_nonblock(cfd);
	sfd = socket(px.to.ss_family, SOCK_STREAM, 0);
	if (sfd < 0) {
		say("socket: %s", strerror(errno));
		close_fd(cfd, true);
		return;
	}
	set_nonblock(sfd);
	if (connect(sfd, (struct sockaddr *)&px.to, px.to_len) != 0 && errno != EINPROGRESS) {
		say("cannot connect to %s: %s", px.to_name, strerror(errno));
		close_fd(sfd, false);
		close_fd(cfd, true);
		return;
	}
	if (px.n_conns == px.cap_conns) {
		size_t cap = px.cap_conns ? px.cap_conns * 2 : 16;
		struct conn **n = realloc(px.conns, cap * sizeof(*n));

		if (!n)
			die("out of memory while adding a connection");
		px.conns = n;
		px.cap_conns = cap;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		die("out of memory while adding a connection");
	c->fd[0] = cfd;
	c->fd[1] = sfd;
	c->connecting = true;
	px.conns[px.n_conns++] = c;
}

/* Accepts every client waiting. */
static void accept_all(void)
{
	for (;;) {
		int fd = accept(px.listen_fd, NULL, NULL);

		if (fd >= 0) {
			conn_start(fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Polling the listener again would spin: wait until a connection ends. */
			say("accept: %s; not accepting until a connection ends", strerror(errno));
			px.accepting = false;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
			die("accept: %s", strerror(errno));
		}
		return;
	}
}

/* SIGHUP: every connection ends with an RST on both sides. */
static void reset_all(void)
{
	size_t n = px.n_conns;

	while (px.n_conns > 0)
		conn_end(px.n_conns - 1, true, true);
	px.resets++;
	say("reset %zu connection%s", n, n == 1 ? "" : "s");
}

/* Applies the signals waiting in the self-pipe, in order; false after SIGTERM or SIGINT. */
static bool take_signals(void)
{
	unsigned char sigs[64];
	ssize_t n, i;
	bool changed = false;

	while ((n = read(sig_pipe[0], sigs, sizeof(sigs))) > 0) {
		for (i = 0; i < n; i++) {
			switch (sigs[i]) {
			case SIGUSR1:
				px.partitioned = true;
				say("partitioned");
				break;
			case SIGUSR2:
				px.partitioned = false;
				say("forwarding");
				break;
			case SIGHUP:
				reset_all();
				break;
			default:
				return false;
			}
			changed = true;
		}
	}
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		die("read from the signal pipe: %s", strerror(errno));
	if (changed)
		write_state();
	return true;
}

/* Reads from side S of connection C into its buffer; -1 when the side failed. */
static int pump_in(struct conn *c, int s)
{
	struct pipe_buf *b = &c->buf[s];

	for (;;) {
		ssize_t n;

		if (b->off > 0 && b->off == b->len)
			b->off = b->len = 0;
		if (b->len == BUF_SIZE || b->eof)
			return 0;
		n = recv(c->fd[s], b->data + b->len, BUF_SIZE - b->len, 0);
		if (n > 0) {
			b->len += (size_t)n;
		} else if (n == 0) {
			b->eof = true;
			return 0;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return 0;
		} else if (errno != EINTR) {
			return -1;
		}
	}
}

/* Writes side S's buffer to the other side of C; -1 when that side failed. */
static int pump_out(struct conn *c, int s)
{
	struct pipe_buf *b = &c->buf[s];

	while (b->off < b->len) {
		ssize_t n = send(c->fd[1 - s], b->data + b->off, b->len - b->off, MSG_NOSIGNAL);

		if (n >= 0)
			b->off += (size_t)n;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		else if (errno != EINTR)
			return -1;
	}
	b->off = b->len = 0;
	return 0;
}

/* The events to poll side S of C for. */
static short conn_events(const struct conn *c, int s)
{
	short ev = 0;

	if (c->connecting)
		return s == 1 ? POLLOUT : 0;
	if (!c->buf[s].eof && c->buf[s].len < BUF_SIZE)
		ev |= POLLIN;
	if (c->buf[1 - s].off < c->buf[1 - s].len)
		ev |= POLLOUT;
	return ev;
}

/* Moves what poll said can move on connection I; false when it ended. */
static bool conn_service(size_t i, const short rev[2])
{
	struct conn *c = px.conns[i];
	int s, err = 0;
	socklen_t len = sizeof(err);

	if (c->connecting) {
		/* The client left before the target answered. */
		if (rev[0] & (POLLHUP | POLLERR)) {
			conn_end(i, false, true);
			return false;
		}
		if (!rev[1])
			return true;
		if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err != 0) {
			say("cannot connect to %s: %s", px.to_name, strerror(err));
			conn_end(i, true, false);
			return false;
		}
		c->connecting = false;
		return true;
	}
	for (s = 0; s < 2; s++) {
		/* A hang-up or an error is found by the read, where there is room to read. */
		if ((rev[s] & (POLLIN | POLLHUP | POLLERR)) && pump_in(c, s) < 0) {
			conn_end(i, s == 1, s == 0);
			return false;
		}
	}
	for (s = 0; s < 2; s++) {
		if (pump_out(c, s) < 0) {
			conn_end(i, s == 0, s == 1);
			return false;
		}
	}
	for (s = 0; s < 2; s++) {
		if (c->buf[s].eof && c->buf[s].off == c->buf[s].len) {
			conn_end(i, false, false);
			return false;
		}
		/* Gone while not being read (a full buffer, or after its EOF):
		 * poll would report it again and again. */
		if ((rev[s] & (POLLHUP | POLLERR)) && !(conn_events(c, s) & POLLIN)) {
			bool failed = (rev[s] & POLLERR) != 0;

			conn_end(i, s == 1 && failed, s == 0 && failed);
			return false;
		}
	}
	return true;
}

/* The loop: poll, apply signals, move bytes; returns on SIGTERM or SIGINT. */
static void run(void)
{
	struct pollfd *pfd = NULL;
	size_t cap = 0;

	for (;;) {
		size_t i, n = px.n_conns, want = 2 + 2 * n;
		int rc;

		if (want > cap) {
			struct pollfd *p = realloc(pfd, want * sizeof(*p));

			if (!p)
				die("out of memory while preparing the poll");
			pfd = p;
			cap = want;
		}
		pfd[0] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = px.accepting ? px.listen_fd : -1, .events = POLLIN};
		for (i = 0; i < n; i++) {
			int s;

			for (s = 0; s < 2; s++) {
				struct pollfd *p = &pfd[2 + 2 * i + (size_t)s];
				struct conn *c = px.conns[i];

				/* Partitioned: left out, so not even a hang-up is noticed. */
				p->fd = px.partitioned ? -1 : c->fd[s];
				p->events = conn_events(c, s);
				p->revents = 0;
			}
		}
		rc = poll(pfd, want, -1);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (pfd[0].revents & POLLIN) {
			if (!take_signals())
				break;
			/* A reset or a partition just now: what this poll saw is past. */
			continue;
		}
		/* From the last one down, so that an ended one's place is taken by one already
		 * done. */
		for (i = n; i-- > 0 && !px.partitioned;) {
			short rev[2] = {pfd[2 + 2 * i].revents, pfd[3 + 2 * i].revents};

			if (rev[0] || rev[1])
				conn_service(i, rev);
		}
		if (pfd[1].revents)
			accept_all();
	}
	free(pfd);
}

int main(int argc, char **argv)
{
	char *listen_arg = NULL, *to_arg = NULL, line[32];
	const char *port_file = NULL;
	struct sigaction sa;
	unsigned port;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		}
		if (i + 1 >= argc)
			die("%s: a value is needed (--help)", a);
		if (strcmp(a, "--listen") == 0)
			listen_arg = argv[++i];
		else if (strcmp(a, "--to") == 0)
			to_arg = argv[++i];
		else if (strcmp(a, "--port-file") == 0)
			port_file = argv[++i];
		else if (strcmp(a, "--pid-file") == 0)
			px.pid_file = argv[++i];
		else if (strcmp(a, "--state-file") == 0)
			px.state_file = argv[++i];
		else
			die("unknown option '%s' (--help)", a);
	}
	if (!listen_arg || !to_arg)
		die("--listen and --to are needed (--help)");

	if (pipe(sig_pipe) != 0)
		die("pipe: %s", strerror(errno));
	set_nonblock(sig_pipe[0]);
	set_nonblock(sig_pipe[1]);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: poll returns EINTR and the loop reads the pipe. */
	if (sigaction(SIGUSR1, &sa, NULL) || sigaction(SIGUSR2, &sa, NULL) ||
	    sigaction(SIGHUP, &sa, NULL) || sigaction(SIGTERM, &sa, NULL) ||
	    sigaction(SIGINT, &sa, NULL))
		die("sigaction: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);

	resolve_to(to_arg);
	port = listen_on(listen_arg);
	if (px.pid_file) {
		snprintf(line, sizeof(line), "%ld\n", (long)getpid());
		write_file(px.pid_file, line);
	}
	write_state();
	if (port_file) {
		snprintf(line, sizeof(line), "%u\n", port);
		write_file(port_file, line);
	}
	say("listening on port %u, relaying to %s", port, px.to_name);

	run();

	while (px.n_conns > 0)
		conn_end(px.n_conns - 1, false, false);
	free(px.conns);
	close(px.listen_fd);
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	if (px.pid_file)
		unlink(px.pid_file);
	say("stopped");
	return 0;
}
