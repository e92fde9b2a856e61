//! Reading CRLF-terminated lines with a cap, so that no client can make a session buffer without
//! bound. A line longer than the cap is consumed up to its LF and reported as `TooLong`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
