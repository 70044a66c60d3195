/*
 * The link row the event and diff tests start from; each test changes one
 * field at a time.
 */
#ifndef ZL_TEST_FIXTURES_H
#define ZL_TEST_FIXTURES_H

#include "event.h"

#define UUID_O "5f0e1d2c-3b4a-4596-8877-665544332211"
#define ZAAK_ID "0b9e6c5a-4f3d-4e2b-9a1c-7d8e9f0a1b2c"

/* A current row that is a zaak link. */
static inline struct zl_row link_row(void)
{
	struct zl_row row = {
	    .id = 7,
	    .uuid = UUID_O,
	    .klantcontact_id = 3,
	    .has_klantcontact = true,
	    .objecttype = "zaak",
	    .soort_object_id = "uuid",
	    .object_id = ZAAK_ID,
	    .code_register = "openzaak",
	    .onderwerp = "Vraag over aanvraag",
	    .nummer = "0000012",
	};
	return row;
}

#endif
