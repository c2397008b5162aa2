package enrich

import (
	"container/list"
	"sync"
	"time"
)

// answerCache keeps the classifier's answers per fingerprint and status
// until they expire, at most size of them, the least recently used
// going first. A failed classification is kept too (answer nil), so that
// the deliveries of one alert all fail open alike.
type answerCache struct {
	mu    sync.Mutex
	size  int
	items map[string]*list.Element
	order list.List // of *cached, most recently used first
}

type cached struct {
	key     string
	answer  *ClassifierAnswer // nil: the classification failed open
	expires time.Time
}

func newAnswerCache(size int) *answerCache {
	return &answerCache{size: max(size, 1), items: map[string]*list.Element{}}
}

// get returns the unexpired entry of key.
func (c *answerCache) get(key string, now time.Time) (*cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cached)
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, key)
		return nil, false
	}
	c.order.MoveToFront(el)
	return e, true
}

// put keeps answer under key until expires, evicting the least recently
// used entry past the bound.
func (c *answerCache) put(key string, answer *ClassifierAnswer, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		el.Value = &cached{key: key, answer: answer, expires: expires}
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&cached{key: key, answer: answer, expires: expires})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cached).key)
	}
}

// len counts the entries, expired ones included.
func (c *answerCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
