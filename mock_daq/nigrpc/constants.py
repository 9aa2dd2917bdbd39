"""NI-DAQmx numbers the simulated device speaks: error codes with NI's messages, attribute
ids (the C ``DAQmx_*`` ids the client sends as ``attribute_raw``) and enum values.

Values are NI-DAQmx's own (checked against ``nidaqmx.error_codes`` / ``nidaqmx.constants``
1.7.0 and ``imports/include/NIDAQmx.h`` of github.com/ni/grpc-device); they are restated here
so the simulator imports only the generated gRPC stubs.  Error texts are NI-DAQmx's
``DAQmxGetErrorString`` texts (the driver is not installed here: checked against the copy of
NIDAQmx's error table in github.com/onguntoglu/openlate ``openlate/src/nicommon/nierr.rs``).
"""

from __future__ import annotations

# --- errors (negative) and their NI texts ---------------------------------------------------
PAL_RESOURCE_RESERVED = -50103
INPUT_FIFO_OVERFLOW = -200010
OUTPUT_FIFO_UNDERFLOW = -200016
DAC_UNDERFLOW = -200018
INPUT_FIFO_OVERFLOW_USB = -200361
PAL_TRANSFER_ABORTED = -50405
RESOURCE_ALREADY_RESERVED = -200022
INVALID_ATTRIBUTE_VALUE = -200077
MIN_NOT_LESS_THAN_MAX = -200082
INVALID_TASK = -200088
PHYSICAL_CHAN_DOES_NOT_EXIST = -200170
ATTR_NOT_SUPPORTED = -200197
ATTR_NOT_SUPPORTED_IN_TASK_CONTEXT = -200452
INVALID_DEVICE_ID = -200220
SAMPLES_NO_LONGER_AVAILABLE = -200279
SAMPLES_NOT_YET_AVAILABLE = -200284
GEN_STOPPED_TO_PREVENT_REGEN = -200290
SAMPLES_CAN_NOT_YET_BE_WRITTEN = -200292
CANT_RESET_EXPIRED_WATCHDOG = -200644
NO_MORE_SPACE = -200293
SAMP_RATE_TOO_HIGH = -200332
WAIT_UNTIL_DONE_DOES_NOT_INDICATE_DONE = -200560
CANNOT_WRITE_NOT_RUNNING = -200472
CAN_NOT_PERFORM_OP_WHILE_TASK_RUNNING = -200479
CHAN_ALREADY_IN_TASK = -200489
OUTPUT_FIFO_UNDERFLOW_2 = -200621
WATCHDOG_TIMER_NOT_SUPPORTED = -200662
WRITE_FAILED_BECAUSE_WATCHDOG_EXPIRED = -200678
INVALID_PHYS_CHAN_TYPE = -200430
ACTION_NOT_SUPPORTED_TASK_NOT_WATCHDOG = -200635
CONFIG_FAILED_BECAUSE_WATCHDOG_EXPIRED = -201434
CANT_RESERVE_TASK_WHILE_WATCHDOG_TASK_RESERVING = -201476
CANT_RESERVE_WATCHDOG_TASK_WHILE_OTHER_TASKS_RESERVED = -201477
CHASSIS_WATCHDOG_TIMER_EXPIRED = -201478

MESSAGES: dict[int, str] = {
    INPUT_FIFO_OVERFLOW: "Onboard device memory overflow. Because of system and/or bus-bandwidth "
    "limitations, the driver could not read data from the device fast enough to keep up with the "
    "device throughput.",
    OUTPUT_FIFO_UNDERFLOW: "Onboard device memory underflow. Not enough data was transferred to the device "
    "to keep up with the device output rate.",
    DAC_UNDERFLOW: "DAC conversion attempted before data to be converted was available.",
    INPUT_FIFO_OVERFLOW_USB: "Onboard device memory overflow. Because of system and/or bus-bandwidth "
    "limitations, the driver could not read data from the device fast enough to keep up with the "
    "device throughput.",
    PAL_TRANSFER_ABORTED: "No transfer is in progress because the transfer was aborted by the client.",
    PAL_RESOURCE_RESERVED: "The specified resource is reserved. The operation could not be completed as specified.",
    RESOURCE_ALREADY_RESERVED: "Resource requested by this task has already been reserved by a different task.",
    INVALID_ATTRIBUTE_VALUE: "Requested value is not a supported value for this property.",
    MIN_NOT_LESS_THAN_MAX: "Minimum is not less than maximum.",
    INVALID_TASK: "Task specified is invalid or does not exist.",
    PHYSICAL_CHAN_DOES_NOT_EXIST: "Physical channel specified does not exist on this device.",
    ATTR_NOT_SUPPORTED_IN_TASK_CONTEXT: "Specified property is not supported by the device or is not "
    "applicable to the task.",
    ATTR_NOT_SUPPORTED: "Specified property is not supported by the device or is not applicable to the task.",
    INVALID_DEVICE_ID: "Device identifier is invalid.",
    SAMPLES_NO_LONGER_AVAILABLE: "The application is not able to keep up with the hardware acquisition. "
    "Increasing the buffer size, reading the data more frequently, or specifying a fixed number of "
    "samples to read instead of reading all available samples might correct the problem.",
    # the full text, as nidaqmx's gRPC interpreter restates it (``_grpc_interpreter.py``)
    SAMPLES_NOT_YET_AVAILABLE: "Some or all of the samples requested have not yet been acquired.\n\nTo wait for "
    "the samples to become available use a longer read timeout or read later in your program. To make the "
    "samples available sooner, increase the sample rate. If your task uses a start trigger, make sure that your "
    "start trigger is configured correctly. It is also possible that you configured the task for external "
    "timing, and no clock was supplied. If this is the case, supply an external clock.",
    GEN_STOPPED_TO_PREVENT_REGEN: "Generation was stopped to prevent the regeneration of old samples. "
    "Your application was unable to write samples to the background buffer fast enough to prevent "
    "old samples from being regenerated.",
    SAMPLES_CAN_NOT_YET_BE_WRITTEN: "Some or all of the samples to write could not be written to the "
    "buffer yet. More space will free up as samples currently in the buffer are generated.",
    CANT_RESET_EXPIRED_WATCHDOG: "Attempt to reset watchdog timer failed, because the timer had already expired. "
    "Clear expiration of the watchdog timer, or configure a longer watchdog timer timeout.",
    NO_MORE_SPACE: "Attempted to write samples that will not fit in the buffer.",
    WAIT_UNTIL_DONE_DOES_NOT_INDICATE_DONE: "Wait Until Done did not indicate that the task was done within "
    "the specified timeout.",
    SAMP_RATE_TOO_HIGH: "Specified sample rate is higher than the fastest rate supported by the device.",
    CANNOT_WRITE_NOT_RUNNING: "Cannot write data when auto start is false and the task is not running "
    "or committed.",
    CAN_NOT_PERFORM_OP_WHILE_TASK_RUNNING: "The specified operation cannot be performed while the task is running.",
    CHAN_ALREADY_IN_TASK: "Channel already exists in this task.",
    OUTPUT_FIFO_UNDERFLOW_2: "Onboard device memory underflow. Because of system and/or bus-bandwidth "
    "limitations, the driver could not write data to the device fast enough to keep up with the "
    "device output rate.",
    WATCHDOG_TIMER_NOT_SUPPORTED: "Attempt to create a watchdog timer task failed because the device does not "
    "support the feature, or the wrong device type was specified. For NI CompactDAQ devices supporting this "
    "feature, specify the chassis name on which to create a watchdog timer task.",
    WRITE_FAILED_BECAUSE_WATCHDOG_EXPIRED: "Write failed because at least one of the lines in the task is also in "
    "a watchdog timer task whose watchdog timer has expired. Clear the expiration of the watchdog timer before "
    "writing by using DAQmx Control Watchdog Task, by restarting the watchdog timer task, or by resetting the "
    "device programmatically or through the Measurements & Automation Explorer. To prevent this error in the "
    "future reset the watchdog timer more frequently or increase the watchdog timer timeout.",
    ACTION_NOT_SUPPORTED_TASK_NOT_WATCHDOG: "You have attempted to control a Watchdog Task, but the task supplied "
    "was not a Watchdog Task.",
    CONFIG_FAILED_BECAUSE_WATCHDOG_EXPIRED: "Configuration failed because the task tried to change the direction "
    "of a line while the watchdog timer is expired. Clear the expiration of the watchdog timer task before trying "
    "to change the direction of any line, even if the line is not watched by the watchdog timer task.",
    CANT_RESERVE_TASK_WHILE_WATCHDOG_TASK_RESERVING: "Task reservation failed because a watchdog timer task is "
    "reserved. Unreserve or commit the watchdog timer task to reserve a new task.",
    CANT_RESERVE_WATCHDOG_TASK_WHILE_OTHER_TASKS_RESERVED: "Reservation of watchdog timer task failed because "
    "another task is reserved or running. Stop and unreserve all other tasks before reserving a watchdog timer task.",
    CHASSIS_WATCHDOG_TIMER_EXPIRED: "Watchdog timer task has expired. Reset the chassis to resume normal operation.",
    INVALID_PHYS_CHAN_TYPE: "Physical channel does not support this measurement or generation type.",
}

# --- attribute ids ---------------------------------------------------------------------------
SYS_MAJOR_VERSION = 0x1272
SYS_MINOR_VERSION = 0x1923
SYS_UPDATE_VERSION = 0x2F22
SYS_DEV_NAMES = 0x193B
TASK_NAME = 0x1276
TASK_CHANNELS = 0x1273
TASK_NUM_CHANS = 0x2181
TASK_COMPLETE = 0x1274
TASK_DEVICES = 0x230E
CHAN_TYPE = 0x187F
CHAN_AI_MAX = 0x17DD
CHAN_AI_MIN = 0x17DE
CHAN_AI_TERM_CFG = 0x1097
CHAN_AO_MAX = 0x1186
CHAN_AO_MIN = 0x1187
CHAN_PHYSICAL_NAME = 0x18F5
CHAN_AI_MEAS_TYPE = 0x0695
CHAN_AO_OUTPUT_TYPE = 0x1108
CHAN_AI_RNG_HIGH = 0x1815
CHAN_AI_VOLTAGE_UNITS = 0x1094
CHAN_AO_VOLTAGE_UNITS = 0x1184
CHAN_AI_CUSTOM_SCALE = 0x17E0
CHAN_AO_CUSTOM_SCALE = 0x1188
CHAN_AI_RAW_SAMP_SIZE = 0x22DA
CHAN_AO_RESOLUTION = 0x182C
READ_RAW_DATA_WIDTH = 0x217A
READ_ALL_AVAIL_SAMP = 0x1215
TRIG_REF_PRETRIG_SAMPLES = 0x1445
CAL_DEV_TEMP = 0x223B
CAL_EXT_LAST_TEMP = 0x1867
CAL_EXT_RECOMMENDED_INTERVAL_MONTHS = 0x1868
CAL_SELF_LAST_TEMP = 0x1864
READ_RELATIVE_TO = 0x190A
READ_OFFSET = 0x190B
READ_SLEEP_TIME = 0x22B0
READ_LOGGING_FILE_PATH = 0x2EC4
READ_LOGGING_PAUSE = 0x2FE3
READ_LOGGING_PREALLOC = 0x2FC6
WRITE_RELATIVE_TO = 0x190C
WRITE_OFFSET = 0x190D
WRITE_SLEEP_TIME = 0x22B2
TIMING_SIMULTANEOUS_AO = 0x21A0
TIMING_SAMP_CLK_TIMEBASE_DIV = 0x18EB
TRIG_START_DIG_FLTR_TB_SRC = 0x2225
TRIG_START_DIG_FLTR_TB_RATE = 0x2226
CHAN_AI_RNG_LOW = 0x1816
CHAN_AI_LOWPASS_ENABLE = 0x1802
CHAN_AI_COUPLING = 0x0064
CHAN_AO_IDLE_OUTPUT_BEHAVIOR = 0x2240
BUF_INPUT_ONBRD_SIZE = 0x230A
BUF_OUTPUT_ONBRD_SIZE = 0x230B
DEV_PRODUCT_NUM = 0x231D
DEV_CI_PHYSICAL_CHANS = 0x2324
DEV_CO_PHYSICAL_CHANS = 0x2325
DEV_DI_PORTS = 0x2321
DEV_AO_SAMP_CLK_SUPPORTED = 0x2996
READ_NUM_CHANS = 0x217B
READ_AVAIL_SAMP = 0x1223
READ_CURR_POS = 0x1221
READ_TOTAL_ACQUIRED = 0x192A
READ_OVERWRITE = 0x1211
READ_ALL_AVAIL = 0x1215
READ_CHANNELS_TO_READ = 0x1823
WRITE_NUM_CHANS = 0x217E
WRITE_REGEN_MODE = 0x1453
WRITE_SPACE_AVAIL = 0x1460
WRITE_TOTAL_GENERATED = 0x192B
WRITE_CURR_POS = 0x1458
BUF_INPUT_SIZE = 0x186C
BUF_OUTPUT_SIZE = 0x186D
TIMING_SAMP_RATE = 0x1344
TIMING_SAMP_MODE = 0x1300
TIMING_SAMP_PER_CHAN = 0x1310
TIMING_SAMP_CLK_SRC = 0x1852
TRIG_START_TYPE = 0x1393
TRIG_START_DIG_EDGE_SRC = 0x1407
DEV_PRODUCT_TYPE = 0x0631
DEV_SERIAL_NUM = 0x0632
DEV_PRODUCT_CATEGORY = 0x29A9
DEV_IS_SIMULATED = 0x22CA
DEV_AI_PHYSICAL_CHANS = 0x231E
DEV_AO_PHYSICAL_CHANS = 0x231F
DEV_AI_MAX_SINGLE_RATE = 0x298C
DEV_AI_MAX_MULTI_RATE = 0x298D
DEV_AI_MIN_RATE = 0x298E
DEV_AI_SIMULTANEOUS = 0x298F
DEV_AI_VOLTAGE_RNGS = 0x2990
DEV_AO_MAX_RATE = 0x2997
DEV_AO_MIN_RATE = 0x2998
DEV_AO_VOLTAGE_RNGS = 0x299B
DEV_CHASSIS_MODULES = 0x29B6
DEV_COMPACT_DAQ_CHASSIS = 0x29B7
DEV_BUS_TYPE = 0x2326
PHYS_AI_TERM_CFGS = 0x2342
WATCHDOG_EXPIRED = 0x21A8
WATCHDOG_TIMEOUT = 0x21A9
DEFAULT_NUM_SAMPS_TO_READ = 0x31E8
DEV_DI_LINES = 0x2320
DEV_DO_LINES = 0x2322
DEV_DO_PORTS = 0x2323
DO_NUM_LINES = 0x2179
WRITE_DIGITAL_LINES_BYTES_PER_CHAN = 0x217F

# --- enum values ------------------------------------------------------------------------------
CHAN_TYPE_AI = 10100
CHAN_TYPE_AO = 10102
CHAN_TYPE_DO = 10153
LEVEL_HIGH = 10192
LEVEL_LOW = 10214
LEVEL_TRISTATE = 10310
LEVEL_NO_CHANGE = 10160
CHAN_PER_LINE = 0
CHAN_FOR_ALL_LINES = 1
VOLTAGE = 10322
UNITS_VOLTS = 10348
READ_CURR_READ_POS = 10425
WRITE_CURR_WRITE_POS = 10430
CONT_SAMPS = 10123
FINITE_SAMPS = 10178
ON_DEMAND = 10390
SAMPLE_CLOCK = 10388
TIMING_TYPE = 0x1347
DIG_EDGE = 10150
TRIG_NONE = 10230
REGEN_ALLOW = 10097
REGEN_DONT_ALLOW = 10158
OVERWRITE_UNREAD = 10252
DO_NOT_OVERWRITE = 10159
GROUP_BY_CHANNEL = 0
GROUP_BY_SCAN = 1
READ_ALL_AVAILABLE = -1
TERM_DEFAULT = -1
TERM_RSE = 10083
TERM_NRSE = 10078
TERM_DIFF = 10106
TERM_PSEUDO_DIFF = 12529
TERM_CFG_BITS = {TERM_RSE: 1, TERM_NRSE: 2, TERM_DIFF: 4, TERM_PSEUDO_DIFF: 8}
CATEGORY_X_SERIES = 15858
CATEGORY_AO_SERIES = 14647
CATEGORY_CDAQ_CHASSIS = 14658
CATEGORY_C_SERIES_MODULE = 14659
BUS_PCIE = 13612
BUS_USB = 12586
BUS_TCPIP = 14828
WATCHDOG_AO_VOLTAGE = 10322
UNITS_VOLTS = 10348
READ_CURR_READ_POS = 10425
WRITE_CURR_WRITE_POS = 10430
WATCHDOG_AO_NO_CHANGE = 10160
WATCHDOG_RESET_TIMER = 0
WATCHDOG_CLEAR_EXPIRATION = 1
TASK_CONTROL_START = 0
TASK_CONTROL_STOP = 1
TASK_CONTROL_VERIFY = 2
TASK_CONTROL_COMMIT = 3
TASK_CONTROL_RESERVE = 4
TASK_CONTROL_UNRESERVE = 5
TASK_CONTROL_ABORT = 6
