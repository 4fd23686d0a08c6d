"""Default configuration: the built-in synthetic CT dataset (generated into the cache on first use).

Sized so that the whole pipeline finishes within 10 minutes on a 2-core CPU. Train and evaluate:
  python launch/train.py --config configs/default.py --workdir runs/default
Inspect its data:
  python launch/inspect_data.py --config configs/default.py --json demo/load_report.json
"""

import ml_collections


def get_data_config() -> ml_collections.ConfigDict:
  """Where slices come from, how they are labelled and preprocessed, and how they are split."""
  data = ml_collections.ConfigDict()
  # "phantom": the built-in synthetic CT set; "directory": a dataset at data.root.
  data.source = "phantom"
  data.root = ""
  data.layout = "auto"  # auto | kaggle | csv | folders
  data.table = ""  # csv layout: the label table, relative to data.root
  data.path_column = "path"  # csv layout: the column of file paths
  data.label_column = "Anomaly"
  data.anomalous_value = "True"
  data.anomalous_class = "anomalous"  # folders layout: the anomalous class's folder
  data.patient_column = ""  # kaggle and csv layouts: the column naming each file's patient, used by every split
  # One input channel per (low, high) HU window: mediastinal (soft tissue to bone, the paper's) and lung (aerated
  # lung to soft tissue, where nodules show; the first window clips the whole lung to its -200 HU floor).
  data.hu_windows = ((-200.0, 1000.0), (-1000.0, 400.0))
  # The paper's 128: on the built-in set of 1,000 slices make demo's training took 5.4 minutes at 128 against 4.8
  # at 64 on a 2-core Xeon, and a 12 mm nodule spans 3-5 pixels instead of 1.5-2.5.
  data.image_size = 128
  data.multiframe = "slices"  # slices | error
  data.modalities = ("CT",)
  data.cache_dir = ""  # default $GANCBAM_CACHE or ~/.cache/gancbam_jax
  data.num_workers = 0  # decoding processes; 0 = one per core
  data.strict = False  # True: stop at the first unusable file instead of skipping it, and refuse colour images
  data.max_pixel_mib = 1024.0  # a file declaring more pixel data is refused before it is decoded
  # PNG, JPEG and TIFF files carry no HU: (slope, intercept) maps their stored values to the windows' scale, e.g.
  # (1, 0) with hu_windows ((0, 255),) for 8-bit images, (1, -1024) for 16-bit CT exports; () refuses them.
  data.image_rescale = ()
  # Which slices of a NIfTI volume (or multi-frame file) become training slices: start:stop:step, e.g. "::4".
  data.slice_selection = ":"
  # What "anomalous" means, for reports (the phantom states its own); a proxy label is said to be one.
  data.label_meaning = ""
  data.label_is_proxy = False

  data.phantom = ml_collections.ConfigDict()
  # 1,000 slices leave about 150 test slices, half anomalous: a test ROC-AUC's 95 % interval of about +-0.05,
  # narrow enough to tell methods apart (240 gave 34 test slices and +-0.15).
  data.phantom.n = 1000
  data.phantom.seed = 0
  data.phantom.preset = "medium"  # easy | medium | hard
  # Robustness sweeps fix one property of every slice instead of drawing it from the preset's range.
  data.phantom.noise_hu = 0.0  # scanner noise standard deviation in HU; 0 keeps the preset's range
  data.phantom.lesion_diameter_mm = 0.0  # every lesion's diameter; 0 keeps the preset's range
  data.phantom.contrast_scale = 1.0  # multiplies the preset's lesion and nodule contrast ranges

  data.split = ml_collections.ConfigDict()
  data.split.val_fraction = 0.15
  data.split.test_fraction = 0.15
  data.split.seed = 0
  # BAGAN imbalance protocol: keep ceil(u * majority) anomalous training slices; 0 keeps all.
  # The built-in set is half anomalous; 0.2 makes anomalies rare in training, the case BAGAN's
  # augmentation is for. Validation and test keep the natural prevalence.
  data.split.imbalance_u = 0.2
  return data


def get_model_config() -> ml_collections.ConfigDict:
  """The autoencoder, and through it the generator and discriminator (METHOD.md §2)."""
  model = ml_collections.ConfigDict()
  model.variant = "cbam"  # baseline | cbam | attention_gate
  model.latent_dim = 100
  model.upsample = "subpixel"  # subpixel | transpose (the same function; subpixel is ~30x faster on CPU)
  model.dtype = "float32"  # compute dtype: float32 | bfloat16 (parameters stay float32)
  model.discriminator_dropout = 0.0  # BAGAN uses 0.3
  return model


def get_train_config() -> ml_collections.ConfigDict:
  """Autoencoder pretraining, class Gaussians and BAGAN training (METHOD.md §3), budgeted in steps."""
  train = ml_collections.ConfigDict()
  # Global batch, split over train.num_devices. 16: on tens to hundreds of slices a larger batch buys no
  # better gradient, and each step costs half as much on a CPU as at 32.
  train.batch_size = 16
  # The autoencoder's batch; 0 = train.batch_size. Its steps cost in proportion to the batch, so a smaller one
  # buys more steps in the same time (measured with autoencoder_affine_scale in docs/results.md).
  train.ae_batch_size = 0
  train.num_devices = 0  # 0 = all local devices
  # With augmentation the autoencoder still underfits at 250 steps: on siim-ct-dev (fold 1 of 5) its validation
  # MSE over the mean slice's fell 0.65 -> 0.58 from 1e-3 to 2e-3 at 400 steps (cosine schedule).
  train.ae_steps = 400
  # BAGAN's 5e-5 assumes thousands of steps. In a few hundred it leaves the autoencoder reconstructing noise
  # and the generator it initialises with nothing to start from. configs/gpu.py keeps 5e-5.
  train.ae_learning_rate = 2e-3
  train.ae_beta1 = 0.5
  train.ae_weight_decay = 0.0  # AdamW's decoupled weight decay (times the learning rate); 0 = Adam
  # The autoencoder's and G's anchor's reconstruction error counts a pixel at the window's floor (0) as matched
  # by any output this far below it (gancbam_jax/train/pretrain.py, reconstruction_error); 0 = plain MSE.
  train.floor_margin = 0.0
  # constant | cosine: the rate of the non-adversarial stages (autoencoders, classifier) warms up over
  # 5 % of the stage and decays to 0 along a cosine. BAGAN keeps a constant rate.
  train.lr_schedule = "cosine"
  train.gaussian_ridge = 1e-4  # Sigma_c += ridge * trace(Sigma_c) / d * I
  train.gan_steps = 200
  # BAGAN's. At 2e-4 the generator collapsed onto one slice per class within 100 steps on siim-ct-dev
  # (Fréchet distance 0.21 against 0.015 at 5e-5, both with DiffAugment; real halves: 0.0045).
  train.gan_learning_rate = 5e-5
  train.gan_beta1 = 0.5
  # G's anchor (gancbam_jax/train/bagan.py): this times the MSE of G decoding real training slices' encoder
  # latents back into those slices joins G's loss; 0 = BAGAN's loss alone. make demo's split (2-core Xeon,
  # 2026-12-05): without it the anomalous slices wear the dot grid, with it blurred body rings (Fréchet
  # distance 0.037 against 0.042; C2ST 1.00 both) and GAN-CBAM's ROC-AUC is 0.529 against 0.485, both at
  # chance. configs/siim_ct.py keeps it: from its memorising autoencoder BAGAN's slices stay CT (docs/training.md).
  train.gan_anchor_weight = 1000.0
  # What BAGAN's steps may change in G: "all" (BAGAN's) or "dense" (FC3, FC4; the decoder's convolutions
  # stay). With "all" G's convolutions learn a dot grid that covers every slice; "dense" keeps blurred body
  # outlines, but the classifier trained on them fell from 0.842 to 0.687 ROC-AUC on siim-ct-dev's 5 folds
  # (C2ST 1.00 and 0.99: neither passes for CT; docs/training.md).
  train.generator_layers = "all"
  train.log_every = 10
  train.checkpoint_every = 50
  train.sample_every = 40  # generated-sample grids during BAGAN training; 0 = only at the end
  train.max_to_keep = 2
  return train


def get_augment_config() -> ml_collections.ConfigDict:
  """Augmentation inside the training steps (gancbam_jax/train/transforms.py), seeded by the step key."""
  augment = ml_collections.ConfigDict()
  # Classic augmentation of the autoencoder's and the classifier's batches: a small random affine map
  # and intensity jitter. With tens of training slices the autoencoder memorises them without it
  # (configs/siim_ct.py turns it on). The built-in set's ~700 training slices are not memorised in 400
  # steps; there augmentation only slows the fit: validation MSE over the mean slice's 0.43 with it,
  # 0.36 without (make demo, 2-core Xeon, 2026-12-04).
  augment.autoencoder = False
  augment.classifier = True
  augment.rotation_deg = 10.0  # rotation in [-r, r] degrees
  augment.zoom = 0.1  # scale in [1 - z, 1 + z]
  augment.shift_fraction = 0.06  # shift in [-f, f] of the side
  augment.intensity_scale = 0.1  # gain in [1 - g, 1 + g] of the normalised values
  augment.intensity_shift = 0.05  # offset in [-o, o]
  augment.flip = False  # left-right; off because the heart, aorta and liver lie on fixed sides
  augment.mixup_alpha = 0.0  # classifier batches blended in pairs, weights ~ Beta(alpha, alpha); 0 = none
  augment.mixup_partners = "any"  # any | same_class: whom a slice is blended with, any of its batch or its own class
  # The autoencoder's rotation, zoom and shift ranges are the above times this. On siim-ct-dev's folds 2 (with
  # 2,400 steps of 8) took its validation ratio from 0.51 to 0.43, but not the detectors built on its encoder
  # (docs/results.md).
  augment.autoencoder_affine_scale = 1.0
  # DiffAugment of every image BAGAN's discriminator sees, real and generated: comma-separated among
  # brightness, contrast, translation, cutout; "" for none.
  augment.diffaugment = "brightness,contrast,translation,cutout"
  return augment


def get_detect_config() -> ml_collections.ConfigDict:
  """Which anomaly detector is trained on top of BAGAN and how (METHOD.md §4)."""
  detect = ml_collections.ConfigDict()
  # classifier (primary: trained on real + synthetic) | discriminator (BAGAN's D posterior) |
  # reconstruction (autoencoder of normal slices) | fanogan (izi_f encoder against G, D of normal slices)
  detect.method = "classifier"
  # Epochs of ceil(N / batch) steps over the augmented training set: 8 over the ~700 slices of the built-in set
  # are about 350 steps.
  detect.classifier_epochs = 8
  detect.classifier_learning_rate = 1e-4
  detect.classifier_weight_decay = 0.0  # AdamW's decoupled weight decay; 0 = Adam
  detect.classifier_selection = "val_loss"  # val_loss | val_roc_auc | last: the epoch kept, on validation or the last
  # encoder | random: the classifier's trunk starts from the pretrained encoder (METHOD.md's transfer) or at random.
  detect.classifier_init = "encoder"
  # reconstruction and fanogan train their normal-only autoencoder and GAN with train.ae_* and train.gan_*.
  detect.encoder_steps = 200  # fanogan: steps of the izi_f encoder
  detect.fanogan_feature_weight = 1.0  # k in ||x - G(E(x))||^2 + k ||f_D(x) - f_D(G(E(x)))||^2
  # classifier: how its training classes are balanced. bagan (the method: synthetic minority slices) |
  # none (the imbalanced training split) | class_weights (loss weighted by inverse class frequency) |
  # oversample (real minority slices drawn repeatedly)
  detect.rebalance = "bagan"
  # bagan: the largest share of a topped-up class that BAGAN's slices make up; real slices of the
  # class drawn again close the rest of the gap (1.0: all of it generated, 0.0: as oversample).
  detect.synthetic_share = 1.0
  # Baselines (METHOD.md §6). gda | isolation_forest | ocsvm score principal components of the pixels,
  # fitted on normal training slices.
  detect.pca_components = 16
  detect.forest_trees = 300  # random_forest: the supervised peer on the pixels of the training split
  detect.atr_gan_steps = 200  # atr_gan: DCGAN steps on the minority class
  detect.aclae_steps = 300  # aclae_dt: steps of the ConvLSTM autoencoder of signature matrices
  detect.aclae_bands = 16  # aclae_dt: column bands (the "variables"); rows are time
  return detect


def get_eval_config() -> ml_collections.ConfigDict:
  """How detection is evaluated (METHOD.md §5): thresholds on validation only, test touched once."""
  evaluation = ml_collections.ConfigDict()
  evaluation.folds = 1  # 1: the single split of data.split; K >= 2: patient-grouped K-fold cross-validation
  evaluation.threshold = "max_f1"  # max_f1 | fixed_fpr (chosen on validation)
  evaluation.target_fpr = 0.05  # fixed_fpr: the false-positive rate allowed on validation
  evaluation.bootstrap = 1000  # patient-grouped bootstrap resamples for 95% intervals (single split); 0 = none
  evaluation.timing_repeats = 30  # timed calls per batch size after compilation
  # Methods of gancbam_jax/methods.py trained on the same split and reported beside this run's (comma-separated;
  # "" for none). They reuse its autoencoder and BAGAN, so only detectors built on them can be peers.
  evaluation.peers = "random_forest,no_augmentation"
  # scores.csv names each slice's patient by a keyed pseudonym (the key stays in the run directory);
  # True writes the PatientID itself, for data whose identifiers may leave the machine.
  evaluation.real_patient_ids = False
  return evaluation


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  # True in a multi-process job (several hosts, or several processes on one): jax.distributed.initialize() reads
  # the job from a cluster JAX detects, or from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID.
  config.distributed = False
  # JAX's persistent compilation cache in <data.cache_dir>/jax-compile: the next run with the same shapes (a
  # resume, another fold, method or sweep value) reads its compiled functions back instead of compiling them.
  config.compile_cache = True
  config.data = get_data_config()
  config.model = get_model_config()
  config.train = get_train_config()
  config.augment = get_augment_config()
  config.detect = get_detect_config()
  config.eval = get_eval_config()
  return config
