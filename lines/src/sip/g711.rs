//! G.711 (ITU-T): 16-bit linear samples to and from μ-law (PCMU, payload type 0) and A-law
//! (PCMA, payload type 8), for faxes carried as audio. Pure.

/// One G.711 law: its encoder, its decoder, and the code of silence.
#[derive(Debug, Clone, Copy)]
pub struct Law {
    pub encode: fn(i16) -> u8,
    pub decode: fn(u8) -> i16,
    pub silence: u8,
}

/// μ-law (PCMU).
pub const ULAW: Law = Law {
    encode: linear_to_ulaw,
    decode: ulaw_to_linear,
    silence: 0xff,
};

/// A-law (PCMA).
pub const ALAW: Law = Law {
    encode: linear_to_alaw,
    decode: alaw_to_linear,
    silence: 0xd5,
};

const BIAS: i32 = 0x84;
const CLIP: i32 = 32_635;

/// One linear sample to μ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    let s = s.min(CLIP) + BIAS;
    let exponent = (7 - (s as u32).leading_zeros().saturating_sub(17).min(7)) as i32;
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// One μ-law byte to a linear sample.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// One linear sample to A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut s = i32::from(sample) >> 3; // A-law works on 13 bits
    let sign = if s >= 0 {
        0x80
    } else {
        s = -s - 1;
        0x00
    };
    let s = s.min(0x0fff);
    let exponent = if s < 32 {
        0
    } else {
        (32 - (s as u32).leading_zeros()) as i32 - 5
    };
    let mantissa = if exponent == 0 {
        s >> 1
    } else {
        (s >> exponent) & 0x0f
    };
    (sign | (exponent << 4) as u8 | mantissa as u8) ^ 0x55
}

/// One A-law byte to a linear sample.
pub fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let exponent = i32::from((a >> 4) & 0x07);
    let mantissa = i32::from(a & 0x0f);
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_code_points() {
        // silence, full scale, and the ITU tables' end points
        assert_eq!(linear_to_ulaw(0), 0xff);
        assert_eq!(ulaw_to_linear(0xff), 0);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(ulaw_to_linear(0x80), 32_124);
        assert_eq!(ulaw_to_linear(0x00), -32_124);
        assert_eq!(linear_to_alaw(0), 0xd5);
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0xaa), 32_256);
        assert_eq!(alaw_to_linear(0x2a), -32_256);
    }

    #[test]
    fn every_code_survives_a_round_trip_and_the_error_stays_small() {
        for byte in 0..=255u8 {
            let u = ulaw_to_linear(byte);
            // 0x7f and 0xff are both zero in μ-law
            if byte != 0x7f {
                assert_eq!(linear_to_ulaw(u), byte, "μ-law {byte:#x} -> {u}");
            }
            assert_eq!(
                linear_to_alaw(alaw_to_linear(byte)),
                byte,
                "A-law {byte:#x}"
            );
        }
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let (u, a) = (
                ulaw_to_linear(linear_to_ulaw(s)),
                alaw_to_linear(linear_to_alaw(s)),
            );
            // logarithmic: the error grows with the level, about 1/16 of it at most
            let allowed = (i32::from(s).abs() / 16).max(16);
            assert!(
                (i32::from(u) - i32::from(s)).abs() <= allowed,
                "μ {s} -> {u}"
            );
            assert!(
                (i32::from(a) - i32::from(s)).abs() <= allowed,
                "A {s} -> {a}"
            );
        }
    }
}
