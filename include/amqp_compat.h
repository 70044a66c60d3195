/*
 * rabbitmq-c headers under either layout: <rabbitmq-c/amqp.h> since 0.12
 * (where the old names emit a #warning), <amqp.h> before (Debian 12: 0.11).
 */
#ifndef ZL_AMQP_COMPAT_H
#define ZL_AMQP_COMPAT_H

#include "config.h"

#ifdef HAVE_RABBITMQ_C_AMQP_H
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/framing.h>
#include <rabbitmq-c/ssl_socket.h>
#include <rabbitmq-c/tcp.h>
#else
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#endif

#endif
