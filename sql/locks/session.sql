-- A lock session's TCP keepalives, on the server's side: a writer whose host dies or drops off the
-- network (no FIN ever reaches the server) is noticed within about a minute (30 s idle, then 3 probes
-- 10 s apart), its session ended and its locks released, instead of after the kernel's default of
-- two hours. A process that dies on a live host closes its socket at once anyway. Ignored on a Unix
-- socket.
SET tcp_keepalives_idle = 30;
SET tcp_keepalives_interval = 10;
SET tcp_keepalives_count = 3;
