//! Reading CRLF-terminated lines with a cap, so that no client can make a session buffer without
//! bound. A command line longer than the cap is consumed up to its LF and reported as `TooLong`;
//! message data comes in chunks (`read_chunk`): a line, or the first `cap` bytes of a longer one
//! (the rest follows in the next chunks).

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

#[derive(Debug, PartialEq, Eq)]
pub enum LineRead {
    /// A line, with its line ending as received.
    Line(Vec<u8>),
    TooLong,
    Eof,
}

pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    cap: usize,
) -> std::io::Result<LineRead> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(LineRead::Eof);
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        if !too_long {
            if line.len() + chunk.len() > cap {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let n = chunk.len();
        reader.consume(n);
        if done {
            return Ok(if too_long {
                LineRead::TooLong
            } else {
                LineRead::Line(line)
            });
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Chunk {
    /// The rest of a line, with its LF.
    Line(Vec<u8>),
    /// `cap` bytes of a line that goes on.
    Part(Vec<u8>),
    Eof,
}

/// The next chunk of message data: up to and including an LF, or `cap` bytes without one.
pub async fn read_chunk<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    cap: usize,
) -> std::io::Result<Chunk> {
    let mut chunk = Vec::new();
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(match chunk.is_empty() {
                true => Chunk::Eof,
                false => Chunk::Part(chunk),
            });
        }
        let room = cap - chunk.len();
        let (take, done) = match buf.iter().take(room).position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len().min(room), false),
        };
        chunk.extend_from_slice(&buf[..take]);
        reader.consume(take);
        if done {
            return Ok(Chunk::Line(chunk));
        }
        if chunk.len() == cap {
            return Ok(Chunk::Part(chunk));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunks_are_lines_or_parts_of_a_long_one() {
        let data: &[u8] = b"short\r\n0123456789abcdef\r\nend";
        let mut r = tokio::io::BufReader::with_capacity(3, data);
        let mut got = Vec::new();
        loop {
            match read_chunk(&mut r, 8).await.unwrap() {
                Chunk::Eof => break,
                c => got.push(c),
            }
        }
        assert_eq!(
            got,
            [
                Chunk::Line(b"short\r\n".to_vec()),
                Chunk::Part(b"01234567".to_vec()),
                Chunk::Part(b"89abcdef".to_vec()),
                Chunk::Line(b"\r\n".to_vec()),
                Chunk::Part(b"end".to_vec())
            ],
            "a last piece without LF is a part, then EOF"
        );
    }

    #[tokio::test]
    async fn lines_and_caps() {
        let data: &[u8] = b"EHLO a\r\nxxxxxxxxxxxxxxxxxxxx\r\nQUIT\r\npartial";
        let mut r = tokio::io::BufReader::with_capacity(4, data);
        assert_eq!(
            read_line(&mut r, 10).await.unwrap(),
            LineRead::Line(b"EHLO a\r\n".to_vec())
        );
        assert_eq!(read_line(&mut r, 10).await.unwrap(), LineRead::TooLong);
        assert_eq!(
            read_line(&mut r, 10).await.unwrap(),
            LineRead::Line(b"QUIT\r\n".to_vec())
        );
        assert_eq!(read_line(&mut r, 10).await.unwrap(), LineRead::Eof);
    }
}
