// Package metrics evaluates image-to-image translation results.
//
// Paired metrics compare each output with its ground truth: L1 (mean
// absolute error), PSNR and SSIM. SSIM is Wang et al. (2004) with an 11-tap
// Gaussian window of σ 1.5 and population (not sample) covariances,
// averaged over the image with the window's radius trimmed at the borders
// and over channels: scikit-image's
// structural_similarity(gaussian_weights=True, sigma=1.5,
// use_sample_covariance=False, data_range=…), which the tests check.
//
// Unpaired metrics compare two sets of images through the 2048-d pool
// features of the Inception-v3 network that pytorch-fid uses (TensorFlow's
// 2015 FID Inception, ported; weights file
// pt_inception-2015-12-05-6726825d.pth): the Fréchet Inception Distance
// (FID, Heusel et al. 2017) and the Kernel Inception Distance (KID,
// Bińkowski et al. 2018, cubic polynomial kernel, averaged over random
// subsets as clean-fid and StyleGAN2-ADA do).
//
// Images are resized to 299×299 as clean-fid recommends (Parmar et al.
// 2022): Pillow's bicubic filter in floating point on each channel, with
// antialiasing when shrinking, clipped to [0, 255] only at the end, rather
// than pytorch-fid's bilinear interpolation of a tensor, which aliases.
// The network input is then x/255·2 − 1, as pytorch-fid normalises it.
//
// Paired metrics are plain Go in float64. The network runs on libtorch in
// float32; feature statistics, FID and KID on libtorch in float64.
package metrics
