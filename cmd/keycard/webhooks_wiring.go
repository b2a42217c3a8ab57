package main

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"keycard/configs"
	"keycard/internal/store"
	"keycard/webhooks"
)

// startWebhooks wires package webhooks into serve, on g (serve's errgroup;
// ctx is its context). It sets everything up before anything is started,
// so an unreadable secret stops serve before it serves:
//
//   - the Feed follows the audit log and the sessions table into the
//     outbox, and writes the audit head to the log on every batch of new
//     entries (with or without webhooks: the anchor of item 6). Its cursors
//     are set (on a first start, to the current ends) before serve accepts
//     any request, so no change falls between the two.
//   - the Dispatcher, when webhooks are configured, delivers the outbox.
//
// The Feed has its own store.Watch rather than a hook in the enforcer's:
// a slow outbox write must never delay a Disconnect, the enforcer starts
// from the head in memory while the Feed resumes from a stored cursor, and
// the cost is one connection asking PRAGMA data_version five times a
// second.
func startWebhooks(ctx context.Context, e *env, g *errgroup.Group) error {
	endpoints, err := webhookEndpoints(e.cfg)
	if err != nil {
		return err
	}
	vs, err := e.vouchers(ctx, false) // serve's store, already open
	if err != nil {
		return err
	}
	var dispatcher *webhooks.Dispatcher
	poke := func() {}
	if len(endpoints) > 0 {
		dispatcher, err = webhooks.NewDispatcher(e.db, webhooks.DispatcherConfig{
			Endpoints: endpoints, Now: e.now, Logger: e.log,
		})
		if err != nil {
			return err
		}
		poke = dispatcher.Poke
	}
	feed, err := webhooks.NewFeed(e.db, webhooks.FeedConfig{
		Endpoints: endpoints,
		Hotel:     vs,
		Sessions:  webhooks.SessionsTable{DB: e.db},
		OnEnqueue: poke,
		Now:       e.now,
		Logger:    e.log,
	})
	if err != nil {
		return err
	}
	if err := feed.Start(ctx); err != nil {
		return err
	}
	g.Go(func() error { store.Watch(ctx, e.db, changeFeedInterval, feed.Changed); return nil })
	if dispatcher != nil {
		g.Go(func() error { return dispatcher.Run(ctx) })
		for _, ep := range endpoints {
			events := "all"
			if len(ep.Events) > 0 {
				events = fmt.Sprint(ep.Events)
			}
			e.log.Info("webhook endpoint", "endpoint", ep, "events", events)
		}
	}
	return nil
}

// webhookEndpoints turns the config's webhooks into endpoints, reading
// their secrets.
func webhookEndpoints(cfg *configs.Config) ([]webhooks.Endpoint, error) {
	var out []webhooks.Endpoint
	for i, w := range cfg.Webhooks {
		secret, err := w.Secret()
		if err != nil {
			return nil, fmt.Errorf("webhooks[%d].secret_file: %w", i, err)
		}
		out = append(out, webhooks.Endpoint{URL: w.URL, Secret: secret, Events: w.Events})
	}
	return out, nil
}
