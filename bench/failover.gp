# SPDX-License-Identifier: MIT
# Failover time distributions: one column per scenario and system, every
# trial a point (jittered sideways), the median a short bar. Log scale: resec
# figures are sub-second to seconds, Sentinel's default tens of seconds.
# Variables: datafile (x value median rows), labelfile (xtics), outfile.
set terminal pngcairo size 1200,650 font ",10" noenhanced
set output outfile
set title "Failover: time until a write to the newly named master succeeds; returning: how long the old master took writes (0 shown at 1 ms)"
set logscale y
set ylabel "seconds (log scale)"
set grid ytics mytics
set key off
set xtics nomirror rotate by -30
load labelfile
stats datafile using 1 nooutput
set xrange [-0.6:STATS_max + 0.6]
set samples 1000
plot datafile using ($1 + (rand(0) - 0.5) * 0.35):($2 > 0.001 ? $2 : 0.001) with points pt 7 ps 0.8 lc rgb "#3060a0", \
     datafile using ($1 - 0.15):3:(0.3):(0) with vectors nohead lw 3 lc rgb "#c03020"
