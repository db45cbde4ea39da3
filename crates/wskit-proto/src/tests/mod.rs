//! Protocol tests on a deterministic in-memory pair: no sockets, no clock.

mod util;

use bytes::{Buf, BytesMut};

use crate::deflate::DeflateParams;
use crate::frame::FrameHeader;
use crate::{CloseCode, CloseFrame, Config, Connection, Error, Message, ProtocolError, State};
use util::{Pair, frame, read_all};

#[test]
fn messages_flow_both_ways() {
    let mut pair = Pair::new(Config::default(), None);
    pair.client.send(Message::text("hi")).unwrap();
    pair.client
        .send(Message::binary(vec![0u8; 70_000]))
        .unwrap();
    assert_eq!(
        pair.deliver_to_server(),
        vec![Message::text("hi"), Message::binary(vec![0u8; 70_000])]
    );
    pair.server.send(Message::text("yo")).unwrap();
    assert_eq!(pair.deliver_to_client(), vec![Message::text("yo")]);
}

#[test]
fn single_frame_message_is_split_off_the_read_buffer() {
    let mut server = Connection::server(Config::default(), None);
    let mut buf = BytesMut::from(&frame(0x82, Some([1, 2, 3, 4]), &[9; 300])[..]);
    let ptr = buf.as_ptr();
    let Some(Message::Binary(data)) = server.read(&mut buf).unwrap() else {
        panic!("expected a binary message");
    };
    assert_eq!(&data[..], &[9; 300]);
    // The payload starts right after the 8-byte header, in the same allocation: no copy.
    assert_eq!(data.as_ptr(), ptr.wrapping_add(8));
}

#[test]
fn fragments_with_interleaved_ping_reassemble() {
    let mut server = Connection::server(Config::default(), None);
    let key = Some([5, 6, 7, 8]);
    let mut wire = Vec::new();
    wire.extend(frame(0x01, key, "κό".as_bytes()));
    wire.extend(frame(0x89, key, b"ping!"));
    wire.extend(frame(0x00, key, "σμ".as_bytes()));
    wire.extend(frame(0x80, key, "ε".as_bytes()));
    let msgs = read_all(&mut server, &wire).unwrap();
    assert_eq!(
        msgs,
        vec![
            Message::Ping(bytes::Bytes::from_static(b"ping!")),
            Message::text("κόσμε")
        ]
    );
    // The ping was answered with a pong carrying the same payload.
    let out = server.outbox();
    let pong = out.copy_to_bytes(out.remaining());
    assert_eq!(&pong[..], &frame(0x8a, None, b"ping!")[..]);
}

#[test]
fn without_auto_pong_a_ping_is_returned_unanswered_until_the_application_answers() {
    let mut server = Connection::server(Config::default(), None);
    server.set_auto_pong(false);
    let wire = frame(0x89, Some([5, 6, 7, 8]), b"ping!");
    let msgs = read_all(&mut server, &wire).unwrap();
    assert_eq!(
        msgs,
        vec![Message::Ping(bytes::Bytes::from_static(b"ping!"))]
    );
    assert_eq!(server.outbox().remaining(), 0, "no pong was queued");
    server.pong(b"custom").unwrap();
    let out = server.outbox();
    let pong = out.copy_to_bytes(out.remaining());
    assert_eq!(&pong[..], &frame(0x8a, None, b"custom")[..]);
}

#[test]
fn code_point_split_across_fragments_is_valid() {
    let euro = "€".as_bytes();
    let mut server = Connection::server(Config::default(), None);
    let key = Some([1, 1, 1, 1]);
    let mut wire = frame(0x01, key, &euro[..1]);
    wire.extend(frame(0x00, key, &euro[1..2]));
    wire.extend(frame(0x80, key, &euro[2..]));
    assert_eq!(
        read_all(&mut server, &wire).unwrap(),
        vec![Message::text("€")]
    );
}

#[test]
fn invalid_utf8_fails_fast_with_1007_before_the_message_ends() {
    let mut server = Connection::server(Config::default(), None);
    let key = Some([1, 2, 3, 4]);
    let mut wire = frame(0x01, key, b"valid ");
    // The second fragment is invalid; the final fragment never arrives.
    wire.extend(frame(0x00, key, b"\xce\xba\xff"));
    let err = read_all(&mut server, &wire).unwrap_err();
    assert_eq!(err, Error::Protocol(ProtocolError::InvalidUtf8));
    assert_eq!(server.state(), State::Closed);
    assert_eq!(util::sent_close_code(&mut server), Some(1007));
}

#[test]
fn invalid_utf8_fails_inside_a_partially_received_frame() {
    let mut server = Connection::server(Config::default(), None);
    let whole = frame(0x81, Some([9, 9, 9, 9]), b"abc\xffdefghijklmnop");
    // Only the first part of the frame has arrived.
    let mut buf = BytesMut::from(&whole[..12]);
    assert_eq!(
        server.read(&mut buf),
        Err(Error::Protocol(ProtocolError::InvalidUtf8))
    );
}

#[test]
fn protocol_violations_map_to_close_codes() {
    let key = Some([1, 2, 3, 4]);
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (frame(0xc1, key, b"x"), 1002),                // RSV1 without deflate
        (frame(0x83, key, b""), 1002),                 // reserved opcode
        (frame(0x81, None, b"x"), 1002),               // unmasked client frame
        (frame(0x09, key, b""), 1002),                 // fragmented ping
        (frame(0x89, key, &[0; 126]), 1002),           // control frame too long
        (frame(0x80, key, b"x"), 1002),                // continuation with nothing to continue
        (frame(0x88, key, &[3]), 1002),                // one-byte close payload
        (frame(0x88, key, &[0x03, 0xed]), 1002),       // close code 1005
        (frame(0x88, key, &[0x03, 0xe8, 0xff]), 1007), // close reason not UTF-8
    ];
    for (wire, code) in cases {
        let mut server = Connection::server(Config::default(), None);
        assert!(read_all(&mut server, &wire).is_err(), "{wire:?}");
        assert_eq!(util::sent_close_code(&mut server), Some(code), "{wire:?}");
    }
    let mut wire = frame(0x01, key, b"a");
    wire.extend(frame(0x81, key, b"b"));
    let mut server = Connection::server(Config::default(), None);
    assert_eq!(
        read_all(&mut server, &wire),
        Err(Error::Protocol(ProtocolError::ExpectedContinuation))
    );
}

#[test]
fn oversized_frame_is_refused_from_its_header() {
    let mut server = Connection::server(Config::default().max_message_size(1000), None);
    // Only the header of a 1 GiB frame: refused before any payload is read or allocated.
    let header = FrameHeader {
        fin: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode: 2,
        mask: Some([0; 4]),
        payload_len: 1 << 30,
    };
    let mut buf = BytesMut::new();
    header.encode(&mut buf);
    assert!(matches!(
        server.read(&mut buf),
        Err(Error::Protocol(ProtocolError::FrameTooLarge { .. }))
    ));
    assert_eq!(util::sent_close_code(&mut server), Some(1009));
}

#[test]
fn oversized_frame_is_refused_from_its_length_before_the_masking_key() {
    let mut server = Connection::server(Config::default().max_message_size(1000), None);
    // FIN + binary, MASK + 64-bit length of 1 GiB; the masking key has not come.
    let mut buf = BytesMut::from(&[0x82, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0][..]);
    assert!(matches!(
        server.read(&mut buf),
        Err(Error::Protocol(ProtocolError::FrameTooLarge { .. }))
    ));
    assert_eq!(util::sent_close_code(&mut server), Some(1009));
    // A ping announcing 126 bytes, before its key: refused as well.
    let mut server = Connection::server(Config::default(), None);
    let mut buf = BytesMut::from(&[0x89, 0xfe, 0, 126][..]);
    assert!(matches!(
        server.read(&mut buf),
        Err(Error::Protocol(ProtocolError::ControlFrameTooLarge(126)))
    ));
    // Within the limits, a partial header waits for the rest.
    let mut server = Connection::server(Config::default().max_message_size(1000), None);
    let mut buf = BytesMut::from(&[0x82, 0xfe, 0x03, 0xe8, 1, 2][..]);
    assert!(matches!(server.read(&mut buf), Ok(None)));
}

#[test]
fn many_tiny_fragments_are_charged_a_minimum_each() {
    let config = Config::default().max_message_size(1000).fragment_charge(64);
    let mut server = Connection::server(config, None);
    let key = Some([1, 2, 3, 4]);
    let mut wire = frame(0x02, key, b"");
    for _ in 0..20 {
        wire.extend(frame(0x00, key, b""));
    }
    assert!(matches!(
        read_all(&mut server, &wire),
        Err(Error::Protocol(ProtocolError::MessageTooLarge {
            max: 1000
        }))
    ));
}

#[test]
fn closing_handshake_initiated_by_client() {
    let mut pair = Pair::new(Config::default(), None);
    pair.client
        .close(Some(CloseFrame::new(CloseCode::from(4000), "bye")))
        .unwrap();
    assert_eq!(pair.client.state(), State::CloseSent);
    assert_eq!(pair.client.send(Message::text("late")), Err(Error::Closing));
    let got = pair.deliver_to_server();
    assert_eq!(
        got,
        vec![Message::Close(Some(CloseFrame::new(
            CloseCode::from(4000),
            "bye"
        )))]
    );
    assert!(pair.server.is_closed());
    // The server echoed the code; the client completes the handshake.
    let got = pair.deliver_to_client();
    assert_eq!(
        got,
        vec![Message::Close(Some(CloseFrame::new(
            CloseCode::from(4000),
            ""
        )))]
    );
    assert!(pair.client.is_closed());
}

#[test]
fn data_still_arrives_after_we_sent_close() {
    let mut pair = Pair::new(Config::default(), None);
    pair.server.close(None).unwrap();
    pair.client.send(Message::text("in flight")).unwrap();
    assert_eq!(pair.deliver_to_server(), vec![Message::text("in flight")]);
    assert_eq!(pair.deliver_to_client(), vec![Message::Close(None)]);
    assert_eq!(pair.deliver_to_server(), vec![Message::Close(None)]);
    assert!(pair.server.is_closed() && pair.client.is_closed());
}

#[test]
fn user_cannot_send_reserved_close_codes() {
    let mut pair = Pair::new(Config::default(), None);
    for code in [1005, 1006, 1015, 999, 5000] {
        assert_eq!(
            pair.client
                .close(Some(CloseFrame::new(CloseCode::from(code), ""))),
            Err(Error::InvalidCloseCode(code))
        );
    }
}

#[test]
fn deflate_roundtrip_through_the_connection() {
    let params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: true,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let mut pair = Pair::new(Config::default(), Some(params));
    let big = "compress me ".repeat(10_000);
    for _ in 0..3 {
        pair.client.send(Message::text(big.as_str())).unwrap();
        pair.server.send(Message::text(big.as_str())).unwrap();
    }
    let wire_len = pair.client.outbox().remaining();
    assert!(wire_len < big.len() / 10, "{wire_len}");
    assert_eq!(
        pair.deliver_to_server(),
        vec![Message::text(big.as_str()); 3]
    );
    assert_eq!(
        pair.deliver_to_client(),
        vec![Message::text(big.as_str()); 3]
    );
}

#[test]
fn deflate_bomb_closes_with_1009() {
    let params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let mut client = Connection::client(Config::default(), Some(params), 1);
    let mut server = Connection::server(Config::default().max_message_size(10_000), Some(params));
    client.send(Message::binary(vec![0u8; 1 << 20])).unwrap();
    let out = client.outbox();
    let wire = out.copy_to_bytes(out.remaining());
    assert!(matches!(
        read_all(&mut server, &wire),
        Err(Error::Protocol(ProtocolError::MessageTooLarge { .. }))
    ));
    assert_eq!(util::sent_close_code(&mut server), Some(1009));
}

#[test]
fn byte_at_a_time_delivery_gives_the_same_messages() {
    let mut pair = Pair::new(Config::default(), None);
    pair.client.send(Message::text("slowly ✓")).unwrap();
    pair.client.ping(b"p").unwrap();
    pair.client.send(Message::binary(vec![7; 200])).unwrap();
    let out = pair.client.outbox();
    let wire = out.copy_to_bytes(out.remaining());
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for byte in wire.iter() {
        buf.extend_from_slice(&[*byte]);
        while let Some(msg) = pair.server.read(&mut buf).unwrap() {
            got.push(msg);
        }
    }
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], Message::text("slowly ✓"));
    assert_eq!(got[2], Message::binary(vec![7; 200]));
}

#[test]
fn encoded_message_is_shared_not_copied() {
    let msg = Message::binary(vec![1u8; 10_000]);
    let encoded = crate::EncodedMessage::new(&msg).unwrap();
    let mut server = Connection::server(Config::default(), None);
    server.send_encoded(&encoded).unwrap();
    assert_eq!(server.outbox().chunk().as_ptr(), encoded.frame().as_ptr());
}

#[test]
fn encoded_message_is_compressed_once_for_connections_without_context_takeover() {
    let alone = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let text = "to everyone, compressed once ".repeat(100);
    let encoded = crate::EncodedMessage::new(&Message::text(text.as_str())).unwrap();
    let mut pairs: Vec<Pair> = (0..3)
        .map(|_| Pair::new(Config::default(), Some(alone)))
        .collect();
    let mut frames = Vec::new();
    for pair in &mut pairs {
        // A message of the connection's own before and after: contexts stay consistent.
        pair.server.send(Message::text(text.as_str())).unwrap();
        pair.server.send_encoded(&encoded).unwrap();
        pair.server.send(Message::text(text.as_str())).unwrap();
    }
    for pair in &mut pairs {
        let out = pair.server.outbox();
        let mut slices = [std::io::IoSlice::new(&[]); 8];
        let n = out.chunks_vectored(&mut slices);
        frames.push(slices[..n].iter().map(|s| s.as_ptr()).collect::<Vec<_>>());
        assert_eq!(
            pair.deliver_to_client(),
            vec![Message::text(text.as_str()); 3]
        );
    }
    // The shared compressed frame is one chunk, the same bytes on every connection.
    let shared: Vec<_> = frames.iter().map(|f| f[1]).collect();
    assert!(shared.windows(2).all(|w| w[0] == w[1]), "{frames:?}");

    // With context takeover the frame is compressed per connection, and still decodes.
    let takeover = DeflateParams {
        server_no_context_takeover: false,
        ..alone
    };
    let mut pair = Pair::new(Config::default(), Some(takeover));
    pair.server.send(Message::text(text.as_str())).unwrap();
    pair.server.send_encoded(&encoded).unwrap();
    pair.server.send(Message::text(text.as_str())).unwrap();
    assert_eq!(
        pair.deliver_to_client(),
        vec![Message::text(text.as_str()); 3]
    );
}

#[test]
fn outgoing_messages_are_fragmented_when_configured() {
    for deflate in [
        None,
        Some(DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }),
    ] {
        let config = Config::default().send_fragment_size(Some(100));
        let mut pair = Pair::new(config, deflate);
        let mut x = 0x9e37_79b9_u32;
        let text: String = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect();
        pair.client.send(Message::text(text.as_str())).unwrap();
        let out = pair.client.outbox();
        let wire = out.copy_to_bytes(out.remaining());
        let (first, _) = FrameHeader::parse(&wire).unwrap().unwrap();
        assert!(!first.fin, "the first frame is a fragment");
        assert_eq!(first.rsv1, deflate.is_some());
        assert!(first.payload_len <= 100);
        assert_eq!(
            read_all(&mut pair.server, &wire).unwrap(),
            vec![Message::text(text.as_str())]
        );
    }
}
