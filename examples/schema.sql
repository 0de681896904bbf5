--
-- PostgreSQL database dump (pg_dump --schema-only), trimmed to the tables the example touches
--

SET statement_timeout = 0;
SET lock_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

CREATE TABLE public.orders (
    id bigint NOT NULL,
    customer_id bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    note text
);

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);

CREATE INDEX orders_customer_id_idx ON public.orders USING btree (customer_id);
