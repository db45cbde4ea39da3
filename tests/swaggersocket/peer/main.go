// A SwaggerSocket v1 peer built on go-openapi/swaggersocket, the Go library, for the interop
// test of wskit-rest (tests/swaggersocket/run.sh). Modes:
//
//	peer server          a Go WebsocketServer on a free loopback port: prints
//	                     "listening on ws://127.0.0.1:PORT/", serves the API below on every
//	                     connection, and calls the API of a client whose handshake metadata is
//	                     {"checks": true}, printing one "ok NAME" or "FAIL NAME: REASON" line per
//	                     check and then "checks done", then leaves mid-request as the client
//	                     does.
//	peer client URL      a Go WebsocketClient: connects, runs the same checks against the
//	                     server's API, prints their lines, then "checks done", then sends a request
//	                     to /hang and exits while it is in flight (a peer vanishing mid-request).
//	peer agent URL       a Go WebsocketClient serving the API on its connection (the seed's
//	                     wsClient.Connection().Serve): prints "agent connected ID", runs until
//	                     killed or until /die.
//
// The API: /doc (300 bytes; HEAD gets its length), /text (non-ASCII), /big?n=N, /echo (the
// request body back), /stream (three writes, each flushed), /teapot (418 with headers),
// /headers (the X-Custom request header back), /slow?n=N (answers N after 300 ms), /die (the
// process exits mid-request).
//
// The log of the library goes to stderr; stdout carries only the lines above.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-openapi/swaggersocket"
)

// Text outside ASCII, in both directions.
const nonASCII = "héllo wörld ✓ 日本語 🦀"

var logger = log.New(os.Stderr, "swaggersocket: ", 0)

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

func api() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/doc", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(bytes.Repeat([]byte("d"), 300))
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(nonASCII))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Write(pattern(n))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := ioutil.ReadAll(r.Body)
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.Header().Set("X-Body-Length", strconv.Itoa(len(body)))
		w.Header().Set("X-Content-Length", strconv.FormatInt(r.ContentLength, 10))
		w.Write(body)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		for _, part := range []string{"one ", "two ", "three"} {
			w.Write([]byte(part))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/teapot", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Peer", "go")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte("short and stout"))
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Method + " " + r.Header.Get("X-Custom")))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.Write([]byte(r.URL.Query().Get("n")))
	})
	mux.HandleFunc("/die", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("dying mid-request")
		os.Exit(0)
	})
	return mux
}

var correlation int64

// call sends one request over conn (the library's RoundTrip, which needs X-Correlation-Id) and
// reads the whole response body unless it answers HEAD.
func call(conn *swaggersocket.SocketConnection, method, path string, body []byte, header map[string]string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, "http://peer"+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("X-Correlation-Id", fmt.Sprintf("go-%d", atomic.AddInt64(&correlation, 1)))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := conn.RoundTrip(req)
	if err != nil {
		return nil, nil, err
	}
	if method == "HEAD" {
		// The library reads every response as if it answered GET (it passes no request to
		// http.ReadResponse), so reading or closing the body of a HEAD response would wait
		// for bytes that never come: leave it.
		return resp, nil, nil
	}
	data, err := ioutil.ReadAll(resp.Body)
	return resp, data, err
}

// checks calls the peer's API (served by wskit) and prints one line per check.
func checks(conn *swaggersocket.SocketConnection) {
	check := func(name string, f func() error) {
		if err := f(); err != nil {
			fmt.Printf("FAIL %s: %v\n", name, err)
		} else {
			fmt.Printf("ok %s\n", name)
		}
	}
	expect := func(what string, got, want interface{}) error {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("%s: got %q, want %q", what, fmt.Sprint(got), fmt.Sprint(want))
		}
		return nil
	}
	check("HEAD gets the length of GET and no body", func() error {
		resp, _, err := call(conn, "HEAD", "/doc", nil, nil)
		if err != nil {
			return err
		}
		if err := expect("status", resp.StatusCode, 200); err != nil {
			return err
		}
		return expect("Content-Length", resp.Header.Get("Content-Length"), "300")
	})
	// The library frames its next response on a fresh reader, so a request after HEAD shows
	// that the HEAD response left nothing behind.
	check("non-ASCII text after HEAD", func() error {
		_, data, err := call(conn, "GET", "/text", nil, nil)
		if err != nil {
			return err
		}
		return expect("body", string(data), nonASCII)
	})
	for _, n := range []int{512, 4096, 65536} {
		n := n
		check(fmt.Sprintf("a %d-byte response body from wskit", n), func() error {
			_, data, err := call(conn, "GET", fmt.Sprintf("/big?n=%d", n), nil, nil)
			if err != nil {
				return err
			}
			if !bytes.Equal(data, pattern(n)) {
				return fmt.Errorf("got %d bytes, want the %d-byte pattern", len(data), n)
			}
			return nil
		})
	}
	check("non-ASCII request body echoed", func() error {
		resp, data, err := call(conn, "POST", "/echo", []byte(nonASCII), map[string]string{"Content-Type": "text/plain; charset=utf-8"})
		if err != nil {
			return err
		}
		if err := expect("Content-Type", resp.Header.Get("Content-Type"), "text/plain; charset=utf-8"); err != nil {
			return err
		}
		return expect("body", string(data), nonASCII)
	})
	check("a streamed response", func() error {
		_, data, err := call(conn, "GET", "/stream", nil, nil)
		if err != nil {
			return err
		}
		return expect("body", string(data), "one two three")
	})
	check("418 with headers", func() error {
		resp, data, err := call(conn, "GET", "/teapot", nil, nil)
		if err != nil {
			return err
		}
		if err := expect("status", resp.StatusCode, 418); err != nil {
			return err
		}
		if err := expect("X-Peer", resp.Header.Get("X-Peer"), "wskit"); err != nil {
			return err
		}
		if err := expect("X-Multi", strings.Join(resp.Header["X-Multi"], ","), "a,b"); err != nil {
			return err
		}
		return expect("body", string(data), "short and stout")
	})
	check("request headers reach the handler", func() error {
		_, data, err := call(conn, "PUT", "/headers", nil, map[string]string{"X-Custom": "v1 ü"})
		if err != nil {
			return err
		}
		return expect("body", string(data), "PUT v1 ü")
	})
	fmt.Println("checks done")
}

// leave sends a request to /hang (which wskit never answers) and exits while it is in flight:
// wskit must see the connection end.
func leave(conn *swaggersocket.SocketConnection) {
	req, _ := http.NewRequest("GET", "http://peer/hang", nil)
	req.Header.Set("X-Correlation-Id", "go-hang")
	conn.WriteRequest(req)
	fmt.Println("leaving mid-request")
	os.Exit(0)
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		logger.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func runServer() {
	addr := freeAddr()
	server := swaggersocket.NewWebSocketServer(swaggersocket.SocketServerOpts{
		Addr:      addr,
		KeepAlive: true,
		Log:       logger,
	})
	events, _ := server.EventStream()
	// NewWebSocketServer listens in the background with no way to learn when: wait until a
	// TCP connection goes through.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			logger.Fatalf("the server did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("listening on ws://%s/\n", addr)
	for event := range events {
		if event.EventType != swaggersocket.ConnectionReceived {
			continue
		}
		conn := server.ConnectionFromID(event.ConnectionId)
		if conn == nil {
			continue
		}
		meta, _ := json.Marshal(server.MetaData(event.ConnectionId))
		if strings.Contains(string(meta), `"checks":true`) {
			// A connection of the library either serves or calls: its serve loop and
			// RoundTrip would both read the next message.
			go func() {
				checks(conn)
				leave(conn)
			}()
			continue
		}
		// The seed's way: attach the API to the connection from its Received event.
		conn.Serve(context.Background(), api())
	}
}

func connect(rawURL string, meta interface{}) *swaggersocket.WebsocketClient {
	u, err := url.Parse(rawURL)
	if err != nil {
		logger.Fatal(err)
	}
	client := swaggersocket.NewWebSocketClient(swaggersocket.SocketClientOpts{
		URL:    u,
		Logger: logger,
	}).WithMetaData(meta)
	if err := client.Connect(); err != nil {
		logger.Fatal(err)
	}
	return client
}

func main() {
	if len(os.Args) < 2 {
		logger.Fatal("usage: peer server | peer client URL | peer agent URL")
	}
	switch os.Args[1] {
	case "server":
		runServer()
	case "client":
		client := connect(os.Args[2], map[string]bool{"go": true})
		conn := client.Connection()
		checks(conn)
		leave(conn)
	case "agent":
		client := connect(os.Args[2], map[string]bool{"go-agent": true})
		client.Connection().Serve(context.Background(), api())
		fmt.Printf("agent connected %s\n", client.Connection().ID())
		select {}
	default:
		logger.Fatalf("unknown mode %q", os.Args[1])
	}
}
