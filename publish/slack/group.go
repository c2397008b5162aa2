package slack

import (
	"context"
	"errors"
	"net/http"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// PublishGroup posts the notification as one message. In bot mode the
// group keeps one message in the channel: the first notification of a
// group posts it; each later one rewrites it to the group's new state
// (chat.update) and answers in its thread with the notification, so the
// channel shows one message per group, up to date, and the thread its
// history. With reply_broadcast the reply of a resolved group shows in
// the channel too. Once the group is resolved its message is forgotten:
// the next firing of the group posts a new one. A message that is gone
// (deleted, or too old to edit) is replaced by a new one.
func (s *slack) PublishGroup(ctx context.Context, n *core.Notification) error {
	if s.threads == nil {
		req, err := s.groupWebhookRequest(ctx, n)
		if err != nil {
			return err
		}
		_, err = publish.Send(s.Client, req, nil)
		return err
	}
	key := groupThreadKey(n)
	if root, known := s.lookupThread(ctx, key); known {
		err := s.followGroup(ctx, n, key, root)
		if !slackMessageGone(err) {
			return err
		}
		s.Log.Info("the Slack message of the group is gone, posting a new one", "err", err)
	}
	req, err := s.groupPostRequest(ctx, n)
	if err != nil {
		return err
	}
	body, err := publish.Send(s.Client, req, checkSlackAnswer)
	if err != nil || n.Status() == core.StatusResolved {
		return err
	}
	return s.keepThread(ctx, key, body)
}

// followGroup rewrites the group's message, then answers in its thread:
// the update is idempotent, so a failed reply retried updates again
// rather than posting a second reply.
func (s *slack) followGroup(ctx context.Context, n *core.Notification, key string, root slackThread) error {
	reqs, err := s.groupFollowRequests(ctx, n, root)
	if err != nil {
		return err
	}
	for _, req := range reqs {
		if _, err := publish.Send(s.Client, req, checkSlackAnswer); err != nil {
			return err
		}
	}
	if n.Status() == core.StatusResolved {
		err = s.threads.Delete(ctx, key)
	} else {
		err = s.rememberThread(ctx, key, root) // for thread_ttl from now
	}
	if err != nil {
		s.Log.Warn("cannot update the Slack thread store", "err", err)
	}
	return nil
}

// RenderGroup builds the requests PublishGroup would send: one post, or,
// once the group has a message, its chat.update and the reply in its
// thread.
func (s *slack) RenderGroup(ctx context.Context, n *core.Notification) ([]*http.Request, error) {
	if s.threads == nil {
		return publish.OneRequest(s.groupWebhookRequest(ctx, n))
	}
	if root, known := s.lookupThread(ctx, groupThreadKey(n)); known {
		return s.groupFollowRequests(ctx, n, root)
	}
	return publish.OneRequest(s.groupPostRequest(ctx, n))
}

// groupThreadKey names the message of a group in the target's state: the
// hash of its group key, as Alertmanager's own integrations key a group.
func groupThreadKey(n *core.Notification) string {
	return "group:" + publish.GroupKeyHash(n.Group.GroupKey)
}

func (s *slack) groupWebhookRequest(ctx context.Context, n *core.Notification) (*http.Request, error) {
	return publish.JSONRequest(ctx, http.MethodPost, s.webhookURL, s.groupMessage(n), "application/json")
}

// groupPostRequest posts a group's first message to the channel, its
// template rendered over the notification.
func (s *slack) groupPostRequest(ctx context.Context, n *core.Notification) (*http.Request, error) {
	msg := s.groupMessage(n)
	var err error
	if msg.Channel, err = s.channel.forGroup(n); err != nil {
		return nil, err
	}
	return s.apiRequest(ctx, "chat.postMessage", msg)
}

// groupFollowRequests are the update of the group's message and the
// reply in its thread, broadcast with reply_broadcast once resolved.
func (s *slack) groupFollowRequests(ctx context.Context, n *core.Notification, root slackThread) ([]*http.Request, error) {
	upd := s.groupMessage(n)
	upd.Channel, upd.TS = root.Channel, root.TS
	updReq, err := s.apiRequest(ctx, "chat.update", upd)
	if err != nil {
		return nil, err
	}
	reply := s.groupMessage(n)
	reply.Channel, reply.ThreadTS = root.Channel, root.TS
	reply.ReplyBroadcast = s.replyBroadcast && n.Status() == core.StatusResolved
	replyReq, err := s.apiRequest(ctx, "chat.postMessage", reply)
	if err != nil {
		return nil, err
	}
	return []*http.Request{updReq, replyReq}, nil
}

// slackMessageGone reports whether chat.update failed because the
// message can no longer be edited
// (https://docs.slack.dev/reference/methods/chat.update#errors): it was
// deleted, or it is past the workspace's edit window.
func slackMessageGone(err error) bool {
	var ae *slackAPIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Code {
	case "message_not_found", "cant_update_message", "edit_window_closed", "thread_not_found":
		return true
	}
	return false
}
