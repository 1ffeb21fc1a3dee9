//! The smallest computation that proves libtorch is loaded and its autograd works: the value
//! and gradient of `f(x) = sum(x_i^3)`, whose gradient `3 x_i^2` is known in closed form.

use tch::{Kind, TchError, Tensor};

pub fn cube_sum(x: &[f64]) -> Result<(f64, Vec<f64>), TchError> {
    let input = Tensor::f_from_slice(x)?.set_requires_grad(true);
    let value = input.f_pow_tensor_scalar(3)?.f_sum(Kind::Double)?;
    value.f_backward()?;
    let gradient = Vec::<f64>::try_from(&input.grad())?;
    Ok((value.f_double_value(&[])?, gradient))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::float_cmp)] // the inputs and results are exact in binary
    fn gradient_is_three_x_squared() {
        let (value, gradient) = cube_sum(&[1.0, -2.0, 0.5]).unwrap();
        assert_eq!(value, 1.0 - 8.0 + 0.125);
        assert_eq!(gradient, vec![3.0, 12.0, 0.75]);
    }
}
