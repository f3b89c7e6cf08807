package options

import "math"

// Base returns the options shared by train and test (base_options.py).
func Base() []Def {
	return []Def{
		{Name: "dataroot", Default: "", Help: "path to images (should have subfolders trainA, trainB, valA, valB, etc)"},
		{Name: "name", Default: "experiment_name", Help: "name of the experiment. It decides where to store samples and models"},
		{Name: "checkpoints_dir", Default: "./checkpoints", Help: "models are saved here"},
		{Name: "device", Default: "auto", Help: "cpu, cuda, cuda:N, or auto (first CUDA device if any, else CPU)"},
		{Name: "gpu_ids", Default: "", Help: "the reference's older device option: gpu ids e.g. 0  0,1,2  -1 for CPU; one device per process, so the first id is used; --device, when given, takes precedence"},
		{Name: "seed", Default: 0, Help: "random seed for weights, data order and augmentation (0: time-based)"},
		{Name: "model", Default: "cycle_gan", Help: "chooses which model to use (the registered models are listed here when --help is built)", Inherit: true},
		{Name: "input_nc", Default: 3, Help: "# of input image channels: 3 for RGB and 1 for grayscale", Inherit: true},
		{Name: "output_nc", Default: 3, Help: "# of output image channels: 3 for RGB and 1 for grayscale", Inherit: true},
		{Name: "ngf", Default: 64, Help: "# of gen filters in the last conv layer", Inherit: true},
		{Name: "ndf", Default: 64, Help: "# of discrim filters in the first conv layer", Inherit: true},
		{Name: "netD", Default: "basic", Help: "specify discriminator architecture [basic | n_layers | pixel]", Inherit: true},
		{Name: "netG", Default: "resnet_9blocks", Help: "specify generator architecture [resnet_9blocks | resnet_6blocks | unet_256 | unet_128 | unet_<2^k>]", Inherit: true},
		{Name: "n_layers_D", Default: 3, Help: "only used if netD==n_layers", Inherit: true},
		{Name: "norm", Default: "instance", Help: "instance normalization or batch normalization [instance | batch | none]", Inherit: true},
		{Name: "init_type", Default: "normal", Help: "network initialization [normal | xavier | kaiming | orthogonal]"},
		{Name: "init_gain", Default: 0.02, Help: "scaling factor for normal, xavier and orthogonal"},
		{Name: "no_dropout", Default: false, Help: "no dropout for the generator", Inherit: true},
		{Name: "dataset_mode", Default: "unaligned", Help: "chooses how datasets are loaded (the registered modes are listed here when --help is built)"},
		{Name: "direction", Default: "AtoB", Help: "AtoB or BtoA", Inherit: true},
		{Name: "serial_batches", Default: false, Help: "if true, takes images in order to make batches, otherwise takes them randomly"},
		{Name: "num_threads", Default: 4, Help: "# threads for loading data"},
		{Name: "batch_size", Default: 1, Help: "input batch size"},
		{Name: "load_size", Default: 286, Help: "scale images to this size"},
		{Name: "crop_size", Default: 256, Help: "then crop to this size"},
		{Name: "max_dataset_size", Default: math.MaxInt, Help: "maximum number of samples allowed per dataset (inf: all)"},
		{Name: "preprocess", Default: "resize_and_crop", Help: "scaling and cropping of images at load time [resize_and_crop | crop | scale_width | scale_width_and_crop | none]"},
		{Name: "no_flip", Default: false, Help: "if specified, do not flip the images for data augmentation"},
		{Name: "range_A", Default: "dtype", Help: "how the A files' values map to the networks' [-1, 1], values outside clipped: dtype (the file type's full range; 8-bit files as the reference), LO:HI for all channels, LO:HI,LO:HI,… one per channel (e.g. -1000:2000 for CT in Hounsfield units), or percentiles pLO:pHI per channel over the training split (e.g. p0.5:p99.5); training records the numbers it used", Inherit: true},
		{Name: "range_B", Default: "dtype", Help: "the same for the B files", Inherit: true},
		{Name: "format_A", Default: "", Help: "file kind and sample type of the A files (tif:uint16, npy:float32, png:uint8, …): training records it; outputs in domain A are written so unless --output_format", Inherit: true},
		{Name: "format_B", Default: "", Help: "the same for the B files", Inherit: true},
		{Name: "preview_channels", Default: "", Help: "channels shown in the 8-bit previews of pages, the dashboard and --side_by_side, e.g. 0,1,2 (default: the first three, or the only one as grey)"},
		{Name: "bit_depth", Default: "full", Help: "16-bit PNG/TIFF/PPM samples: full keeps all 16 bits; pillow reduces them to 8 as the reference's Pillow does (high byte; 16-bit greyscale saturates at 255) [full | pillow]", Inherit: true},
		{Name: "display_winsize", Default: 256, Help: "display window size for both visdom and HTML"},
		{Name: "epoch", Default: "latest", Help: "which epoch to load? set to latest to use latest cached model"},
		{Name: "load_iter", Default: 0, Help: "which iteration to load? if load_iter > 0, the code will load models by iter_[load_iter]; otherwise, the code will load models by [epoch]"},
		{Name: "verbose", Default: false, Help: "if specified, print more debugging information"},
		{Name: "suffix", Default: "", Help: "customized suffix: opt.name = opt.name + suffix: e.g., {model}_{netG}_size{load_size}"},
		{Name: "precision", Default: "fp32", Help: "compute precision: autocast to bf16 (CPU or CUDA) or fp16 (CUDA only, without loss scaling) [fp32 | bf16 | fp16]"},
	}
}

// Train returns train.py's options.
func Train() []Def {
	return []Def{
		{Name: "display_freq", Default: 400, Help: "frequency of showing training results on screen"},
		{Name: "display_port", Default: 0, Help: "port of the live dashboard on localhost (0: off)"},
		{Name: "update_html_freq", Default: 1000, Help: "frequency of saving training results to html"},
		{Name: "print_freq", Default: 100, Help: "frequency of showing training results on console"},
		{Name: "no_html", Default: false, Help: "do not save intermediate training results to [opt.checkpoints_dir]/[opt.name]/web/"},
		{Name: "save_latest_freq", Default: 5000, Help: "frequency of saving the latest results"},
		{Name: "save_epoch_freq", Default: 5, Help: "frequency of saving checkpoints at the end of epochs"},
		{Name: "save_by_iter", Default: false, Help: "whether saves model by iteration"},
		{Name: "continue_train", Default: false, Help: "continue training: load the latest model"},
		{Name: "epoch_count", Default: 1, Help: "the starting epoch count, we save the model by <epoch_count>, <epoch_count>+<save_latest_freq>, ..."},
		{Name: "phase", Default: "train", Help: "train, val, test, etc"},
		{Name: "n_epochs", Default: 100, Help: "number of epochs with the initial learning rate"},
		{Name: "n_epochs_decay", Default: 100, Help: "number of epochs to linearly decay learning rate to zero"},
		{Name: "beta1", Default: 0.5, Help: "momentum term of adam"},
		{Name: "lr", Default: 0.0002, Help: "initial learning rate for adam"},
		{Name: "gan_mode", Default: "lsgan", Help: "the type of GAN objective. [vanilla| lsgan | wgangp]. vanilla GAN loss is the cross-entropy objective used in the original GAN paper."},
		{Name: "lambda_gp", Default: 10.0, Help: "weight of the WGAN-GP gradient penalty (used with --gan_mode wgangp; 0: none, as in the reference, which defines the penalty but never applies it)"},
		{Name: "pool_size", Default: 50, Help: "the size of image buffer that stores previously generated images"},
		{Name: "lr_policy", Default: "linear", Help: "learning rate policy. [linear | step | plateau | cosine]"},
		{Name: "lr_decay_iters", Default: 50, Help: "multiply by a gamma every lr_decay_iters iterations"},
		{Name: "eval_freq", Default: 0, Help: "every N epochs, translate the --eval_phase images and log metrics (paired L1/PSNR/SSIM for paired models, FID/KID with --inception); they also feed --lr_policy plateau (0: off)"},
		{Name: "eval_phase", Default: "val", Help: "the held-out split --eval_freq uses (<dataroot>/<eval_phase>, or <eval_phase>A/B for unaligned data)"},
		{Name: "eval_num", Default: 200, Help: "at most this many held-out images per evaluation"},
		{Name: "nproc", Default: 1, Help: "data-parallel training on this machine: run N processes (torchrun-style: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, LOCAL_RANK), each training on its own shard of every epoch with --batch_size images and averaging gradients every step (effective batch N x --batch_size); on CUDA rank r uses cuda:r"},
		{Name: "inception", Default: "", Help: "pytorch-fid Inception weights (pt_inception-2015-12-05-6726825d.pth) for FID/KID in --eval_freq"},
	}
}

// Test returns test.py's options.
func Test() []Def {
	return []Def{
		{Name: "results_dir", Default: "./results/", Help: "saves results here."},
		{Name: "aspect_ratio", Default: 1.0, Help: "aspect ratio of result images"},
		{Name: "phase", Default: "test", Help: "train, val, test, etc"},
		{Name: "eval", Default: false, Help: "use eval mode during test time."},
		{Name: "num_test", Default: "50", Help: "how many test images to run (a number, or all)"},
		{Name: "output_format", Default: "", Help: "file kind of the outputs on the data's scale: tif, npy or png (default: the kind and sample type of the domain's training files, --format_A/--format_B; 8-bit PNG images for the reference's grey and RGB data)"},
	}
}
