"""`asr serve`: the streaming recognition server (`asr.streaming.server`)."""

from __future__ import annotations

import sys


def cmd_serve(args) -> int:
    from asr.cli.checks import require_free_port, require_model, require_server
    from asr.streaming import StreamingError
    from asr.streaming.server import ServerError, ServerLimits

    model = args.model or "synth-en-streaming"
    try:
        require_server()
        require_free_port(args.host, args.port)
        require_model(model)
        from asr.streaming.server import SpeechServer, run_server
        from asr.transcribe import load_model

        limits = ServerLimits(
            max_streams=args.max_streams,
            max_message_bytes=args.max_message_kb * 1024,
            idle_timeout_s=args.idle_timeout,
            max_upload_bytes=args.max_upload_mb * 1024 * 1024,
        )
        server = SpeechServer(
            load_model(model),
            chunk_ms=args.chunk_ms,
            endpoint_silence_ms=args.endpoint_ms,
            backend=args.backend,
            limits=limits,
        )

        def ready(url: str) -> None:
            print(
                f"serving {model} ({server.streaming.backend}) on {url}/ "
                f"(WebSocket {url.replace('http', 'ws', 1)}/ws); Ctrl+C stops",
                file=sys.stderr,
                flush=True,
            )

        run_server(server, args.host, args.port, on_ready=ready)
    except (ServerError, StreamingError) as e:
        if args.verbose:
            raise
        print(f"asr serve: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("asr serve: stopped", file=sys.stderr)
    return 0
